-- The prototype's monitoring query: total, failed, denied and reversed transactions per minute,
-- from both raw shapes.

with

status_counts as (

    select * from {{ ref('int_status_counts_unioned') }}

),

final as (

    select
        minute_at,
        sum(transaction_count) as total_transactions,
        sum(transaction_count) filter (where status = 'failed') as failed_transactions,
        sum(transaction_count) filter (where status = 'denied') as denied_transactions,
        sum(transaction_count) filter (where status = 'reversed') as reversed_transactions

    from status_counts
    group by minute_at
    order by minute_at

)

select * from final
