{{ config(post_hook=['analyze {{ this }}']) }}

-- Both input shapes brought to one row per minute and status: pre-aggregated counts and
-- individual transactions add up, so a minute may come from either or both. Only the minutes
-- the build recomputes are read (through the indexes on the raw event times), with the
-- evaluation window's lookback before them.

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

transaction_counts as (

    select stg_transaction_counts.*
    from {{ ref('stg_txmon_raw__transaction_counts') }} as stg_transaction_counts
    inner join build_window
        on stg_transaction_counts.observed_at >= build_window.lookback_from

),

transactions as (

    select stg_transactions.*
    from {{ ref('stg_txmon_raw__transactions') }} as stg_transactions
    inner join build_window
        on stg_transactions.created_at >= build_window.lookback_from

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
