{{
    config(
        indexes=[
            {'columns': ['series_id', 'minute_index'], 'unique': True},
        ],
        post_hook=['analyze {{ this }}'],
    )
}}

-- One row per series (int_series_listed: a metric for all transactions or for one value of a
-- monitored dimension) and minute the build recomputes (with the evaluation window's lookback):
-- the minute's numerator, denominator and value, and the same summed over the trailing
-- evaluation window that the trailing baseline judges. Analysed as soon as it is built, so the
-- baseline's walk over it never runs on a plan made without statistics.
-- Rates: numerator = transactions in the metric's statuses, denominator = all transactions of the
-- series' cut. Volume: numerator = all its transactions, denominator = 1 minute, so value =
-- transactions a minute. Share (a dimension value's): numerator = the value's transactions,
-- denominator = all transactions of its dimension. Latency: numerator = the minute's percentile
-- in milliseconds times its transactions with a duration, denominator = those transactions.

{%- set window_minutes = setting('evaluation_window_minutes') | int %}

with

minutes as (

    select * from {{ ref('int_minutes_spined') }}

),

status_counts as (

    select * from {{ ref('int_status_counts_unioned') }}

),

metric_definitions as (

    select * from {{ ref('int_metric_definitions_completed') }}

),

series_listed as (

    select * from {{ ref('int_series_listed') }}

),

dimension_values as (

    select * from {{ ref('int_dimension_values_ranked') }}

),

-- Each count under the series value it counts in: values beyond a dimension's cap as `other`.
series_counts as (

    select
        status_counts.minute_at,
        status_counts.dimension_name,
        coalesce(dimension_values.series_value, status_counts.dimension_value) as dimension_value,
        status_counts.status,
        status_counts.transaction_count

    from status_counts
    left join dimension_values
        on
            status_counts.dimension_name = dimension_values.dimension_name
            and status_counts.dimension_value = dimension_values.dimension_value

),

series_totals as (

    select
        minute_at,
        dimension_name,
        dimension_value,
        sum(transaction_count)::bigint as total_transactions

    from series_counts
    group by minute_at, dimension_name, dimension_value

),

-- What a share is a share of: all the transactions of the value's dimension in the minute.
dimension_totals as (

    select
        minute_at,
        dimension_name,
        sum(total_transactions)::bigint as total_transactions

    from series_totals
    group by minute_at, dimension_name

),

metric_statuses as (

    select
        metric_name,
        trim(numerator_status) as status

    from metric_definitions
    cross join lateral unnest(string_to_array(numerator_statuses, '|')) as numerator_status
    where metric_kind = 'rate'

),

latency_minutes as (

    select * from {{ ref('int_latency_minutes_computed') }}

),

rate_numerators as (

    select
        series_counts.minute_at,
        series_counts.dimension_name,
        series_counts.dimension_value,
        metric_statuses.metric_name,
        sum(series_counts.transaction_count) as numerator

    from series_counts
    inner join metric_statuses
        on series_counts.status = metric_statuses.status
    group by
        series_counts.minute_at,
        series_counts.dimension_name,
        series_counts.dimension_value,
        metric_statuses.metric_name

),

metric_minutes as (

    select
        series_listed.series_id,
        series_listed.metric_name,
        series_listed.dimension_name,
        series_listed.dimension_value,
        series_listed.metric_kind,
        series_listed.direction,
        series_listed.min_sigma::float8 as min_sigma,
        series_listed.min_window_transactions,
        -- Weight of the newest minute in the exponentially smoothed baseline.
        1 - power(0.5, 1.0 / series_listed.half_life_minutes) as smoothing_rate,
        minutes.minute_at,
        minutes.minute_index,
        coalesce(series_totals.total_transactions, 0)::bigint as total_transactions,
        case
            when series_listed.metric_kind in ('volume', 'share')
                then coalesce(series_totals.total_transactions, 0)
            -- Milliseconds times transactions: the window's value is the transaction-weighted
            -- mean of its minutes' percentiles.
            when series_listed.metric_kind = 'latency'
                then coalesce(
                    round(latency_minutes.duration_ms * latency_minutes.timed_transactions), 0
                )
            else coalesce(rate_numerators.numerator, 0)
        end::bigint as numerator,
        case
            when series_listed.metric_kind = 'volume' then 1
            when series_listed.metric_kind = 'share'
                then coalesce(dimension_totals.total_transactions, 0)
            when series_listed.metric_kind = 'latency'
                then coalesce(latency_minutes.timed_transactions, 0)
            else coalesce(series_totals.total_transactions, 0)
        end::bigint as denominator

    from minutes
    inner join series_listed
        on
            series_listed.first_judged_at is null
            or minutes.minute_at >= series_listed.first_judged_at
    left join series_totals
        on
            minutes.minute_at = series_totals.minute_at
            and series_listed.dimension_name = series_totals.dimension_name
            and series_listed.dimension_value = series_totals.dimension_value
    left join dimension_totals
        on
            minutes.minute_at = dimension_totals.minute_at
            and series_listed.dimension_name = dimension_totals.dimension_name
    left join latency_minutes
        on
            minutes.minute_at = latency_minutes.minute_at
            and series_listed.dimension_name = latency_minutes.dimension_name
            and series_listed.dimension_value = latency_minutes.dimension_value
            and series_listed.metric_name = latency_minutes.metric_name
    left join rate_numerators
        on
            minutes.minute_at = rate_numerators.minute_at
            and series_listed.dimension_name = rate_numerators.dimension_name
            and series_listed.dimension_value = rate_numerators.dimension_value
            and series_listed.metric_name = rate_numerators.metric_name

),

windowed as (

    select
        *,
        sum(numerator) over trailing_window as window_numerator,
        sum(denominator) over trailing_window as window_denominator,
        sum(total_transactions) over trailing_window as window_transactions,
        count(*) over trailing_window as window_minutes

    from metric_minutes
    window trailing_window as (
        partition by series_id
        order by minute_index
        range between {{ window_minutes - 1 }} preceding and current row
    )

),

final as (

    select
        series_id,
        metric_name,
        dimension_name,
        dimension_value,
        metric_kind,
        direction,
        min_sigma,
        min_window_transactions,
        smoothing_rate,
        minute_at,
        minute_index,
        total_transactions,
        numerator,
        denominator,
        {{ safe_ratio('numerator', 'denominator') }} as value,
        denominator > 0 as has_data,
        window_numerator::bigint as window_numerator,
        window_denominator::bigint as window_denominator,
        window_minutes::integer as window_minutes,
        window_transactions::bigint as window_transactions,
        {{ safe_ratio('window_numerator', 'window_denominator') }} as window_value,
        window_denominator > 0 as window_has_data

    from windowed

)

select * from final
