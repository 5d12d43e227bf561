-- The prototype's monitoring query: total, failed, denied and reversed transactions per minute,
-- from both raw shapes, as the last published build counted them.

with

metric_minutes as (

    select * from {{ ref('metric_minutes') }}

),

final as (

    select
        minute_at,
        max(total_transactions) as total_transactions,
        max(numerator) filter (where metric_name = 'failed_rate') as failed_transactions,
        max(numerator) filter (where metric_name = 'denied_rate') as denied_transactions,
        max(numerator) filter (where metric_name = 'reversed_rate') as reversed_transactions

    from metric_minutes
    group by minute_at
    order by minute_at

)

select * from final
