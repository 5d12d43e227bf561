-- Both input shapes brought to one row per minute and status: pre-aggregated counts and
-- individual transactions add up, so a minute may come from either or both.

with

transaction_counts as (

    select * from {{ ref('stg_txmon_raw__transaction_counts') }}

),

transactions as (

    select * from {{ ref('stg_txmon_raw__transactions') }}

),

counts_by_minute as (

    select
        minute_at,
        status,
        sum(transaction_count) as transaction_count

    from transaction_counts
    group by minute_at, status

),

transactions_by_minute as (

    select
        minute_at,
        status,
        count(*) as transaction_count

    from transactions
    group by minute_at, status

),

unioned as (

    select * from counts_by_minute
    union all
    select * from transactions_by_minute

),

final as (

    select
        minute_at,
        status,
        sum(transaction_count)::bigint as transaction_count

    from unioned
    group by minute_at, status

)

select * from final
