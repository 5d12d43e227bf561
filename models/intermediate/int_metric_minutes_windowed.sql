{{
    config(
        indexes=[
            {'columns': ['metric_name', 'minute_index'], 'unique': True},
        ],
        post_hook=['analyze {{ this }}'],
    )
}}

-- One row per metric (int_metric_definitions_completed) and minute the build recomputes (with
-- the evaluation window's lookback):
-- the minute's numerator, denominator and value, and the same summed over the trailing
-- evaluation window that the trailing baseline judges. Analysed as soon as it is built, so the
-- baseline's walk over it never runs on a plan made without statistics.
-- Rates: numerator = transactions in the metric's statuses, denominator = all transactions.
-- Volume: numerator = all transactions, denominator = 1 minute, so value = transactions a minute.

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

minute_totals as (

    select
        minutes.minute_at,
        minutes.minute_index,
        coalesce(sum(status_counts.transaction_count), 0)::bigint as total_transactions

    from minutes
    left join status_counts
        on minutes.minute_at = status_counts.minute_at
    group by minutes.minute_at, minutes.minute_index

),

metric_statuses as (

    select
        metric_name,
        trim(numerator_status) as status

    from metric_definitions
    cross join lateral unnest(string_to_array(numerator_statuses, '|')) as numerator_status
    where metric_kind = 'rate'

),

rate_numerators as (

    select
        status_counts.minute_at,
        metric_statuses.metric_name,
        sum(status_counts.transaction_count) as numerator

    from status_counts
    inner join metric_statuses
        on status_counts.status = metric_statuses.status
    group by status_counts.minute_at, metric_statuses.metric_name

),

metric_minutes as (

    select
        metric_definitions.metric_name,
        metric_definitions.metric_kind,
        metric_definitions.direction,
        metric_definitions.min_sigma::float8 as min_sigma,
        -- Weight of the newest minute in the exponentially smoothed baseline.
        1 - power(0.5, 1.0 / metric_definitions.half_life_minutes) as smoothing_rate,
        minute_totals.minute_at,
        minute_totals.minute_index,
        minute_totals.total_transactions,
        case
            when metric_definitions.metric_kind = 'volume' then minute_totals.total_transactions
            else coalesce(rate_numerators.numerator, 0)
        end::bigint as numerator,
        case
            when metric_definitions.metric_kind = 'volume' then 1
            else minute_totals.total_transactions
        end::bigint as denominator

    from minute_totals
    inner join metric_definitions
        on
            metric_definitions.first_judged_at is null
            or minute_totals.minute_at >= metric_definitions.first_judged_at
    left join rate_numerators
        on
            minute_totals.minute_at = rate_numerators.minute_at
            and metric_definitions.metric_name = rate_numerators.metric_name

),

windowed as (

    select
        *,
        sum(numerator) over trailing_window as window_numerator,
        sum(denominator) over trailing_window as window_denominator,
        count(*) over trailing_window as window_minutes

    from metric_minutes
    window trailing_window as (
        partition by metric_name
        order by minute_index
        range between {{ window_minutes - 1 }} preceding and current row
    )

),

final as (

    select
        metric_name,
        metric_kind,
        direction,
        min_sigma,
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
        {{ safe_ratio('window_numerator', 'window_denominator') }} as window_value,
        window_denominator > 0 as window_has_data

    from windowed

)

select * from final
