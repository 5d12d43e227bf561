{{ config(post_hook=['analyze {{ this }}']) }}

-- Both input shapes brought to one row per minute and status: pre-aggregated counts and
-- individual transactions add up, so a minute may come from either or both. Only the minutes
-- the build recomputes are read, with the evaluation window's lookback before them. The bound is a
-- scalar subquery: a parameter the executor prunes day partitions with and probes the indexes on
-- the raw event times with, so the cost follows the new minutes, not the history (a join to
-- build_window read every partition).

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

transaction_counts as (

    select stg_transaction_counts.*
    from {{ ref('stg_txmon_raw__transaction_counts') }} as stg_transaction_counts
    where
        stg_transaction_counts.observed_at
        >= (select build_window.lookback_from from build_window)

),

transactions as (

    select stg_transactions.*
    from {{ ref('stg_txmon_raw__transactions') }} as stg_transactions
    where
        stg_transactions.created_at
        >= (select build_window.lookback_from from build_window)

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
