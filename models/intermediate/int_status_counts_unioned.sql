{{ config(post_hook=['analyze {{ this }}']) }}

-- Both input shapes brought to one row per minute, series cut and status: pre-aggregated counts
-- and individual transactions add up, so a minute may come from either or both. Every row counts
-- for the cut of all transactions (dimension `all`); a transaction counts besides for the value
-- it has of each dimension of the monitored_dimensions seed (its raw value, before values
-- beyond a dimension's max_values are pooled), if it has one. Only the minutes
-- the build recomputes are read, with the evaluation window's lookback before them
-- (rows_read_by_build).

with

transaction_counts as (

    {{ rows_read_by_build('stg_txmon_raw__transaction_counts', 'observed_at') }}

),

monitored_dimensions as (

    select * from {{ ref('monitored_dimensions') }}

),

transactions as (

    {{ rows_read_by_build('stg_txmon_raw__transactions', 'created_at') }}

),

-- Counts by status feed the series of all transactions; counts by a dimension's value (with
-- or without a status) feed that value's series only, since the same transactions may be
-- loaded by status too.
counts_by_minute as (

    select
        minute_at,
        coalesce(dimension_name, 'all') as dimension_name,
        coalesce(dimension_value, 'all') as dimension_value,
        -- Empty for counts by a dimension's value alone: no rate counts them, the totals do.
        coalesce(status, '') as status,
        sum(transaction_count) as transaction_count

    from transaction_counts
    group by
        minute_at,
        coalesce(dimension_name, 'all'),
        coalesce(dimension_value, 'all'),
        coalesce(status, '')

),

transactions_by_minute as (

    select
        minute_at,
        'all' as dimension_name,
        'all' as dimension_value,
        status,
        count(*) as transaction_count

    from transactions
    group by minute_at, status

),

transactions_by_dimension as (

    select
        transactions.minute_at,
        monitored_dimensions.dimension_name,
        {{ dimension_value_of('transactions', 'monitored_dimensions.source_column') }}
            as dimension_value,
        transactions.status,
        count(*) as transaction_count

    from transactions
    cross join monitored_dimensions
    -- A transaction without a value is in no series of that dimension: a column no writer
    -- fills would otherwise repeat the series of all transactions.
    where {{ dimension_value_of('transactions', 'monitored_dimensions.source_column') }} is not null
    group by
        transactions.minute_at,
        monitored_dimensions.dimension_name,
        {{ dimension_value_of('transactions', 'monitored_dimensions.source_column') }},
        transactions.status

),

unioned as (

    select * from counts_by_minute
    union all
    select * from transactions_by_minute
    union all
    select * from transactions_by_dimension

),

final as (

    select
        minute_at,
        dimension_name,
        dimension_value,
        status,
        sum(transaction_count)::bigint as transaction_count

    from unioned
    group by minute_at, dimension_name, dimension_value, status

)

select * from final
