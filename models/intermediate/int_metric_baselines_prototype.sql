{{ config(materialized='view') }}

-- The prototype's model, kept as a mode for comparison: threshold = mean + 3 * sample standard
-- deviation over every minute loaded, the judged minute and any ongoing anomaly included (so an
-- anomaly inflates its own threshold). Below-direction metrics mirror it: mean - 3 * std.
-- Every build in this mode is a full refresh (see int_build_window), so the statistics span
-- all history; a view, since nothing reads it in the trailing mode.

with

metric_minutes as (

    select * from {{ ref('int_metric_minutes_windowed') }}

),

statistics as (

    select
        series_id,
        avg(value) as mean,
        stddev_samp(value) as standard_deviation

    from metric_minutes
    group by series_id

),

judged_minutes as (

    select
        metric_minutes.series_id,
        metric_minutes.metric_name,
        metric_minutes.dimension_name,
        metric_minutes.dimension_value,
        metric_minutes.minute_at,
        metric_minutes.minute_index,
        metric_minutes.metric_kind,
        metric_minutes.direction,
        metric_minutes.total_transactions,
        metric_minutes.numerator,
        metric_minutes.denominator,
        metric_minutes.value,
        metric_minutes.has_data,
        -- The prototype judges a minute without transactions as a rate of 0.
        true as has_window_data,
        metric_minutes.numerator as window_numerator,
        metric_minutes.denominator as window_denominator,
        1 as window_minutes,
        metric_minutes.value as judged_value,
        statistics.mean as baseline,
        statistics.standard_deviation as sigma,
        case
            when metric_minutes.direction = 'below'
                then statistics.mean - 3 * statistics.standard_deviation
            else statistics.mean + 3 * statistics.standard_deviation
        end as threshold,
        (metric_minutes.value - statistics.mean)
        / nullif(statistics.standard_deviation, 0) as z_score,
        statistics.standard_deviation is not null as is_warm,
        coalesce(
            case
                when metric_minutes.direction = 'below'
                    then metric_minutes.value < statistics.mean - 3 * statistics.standard_deviation
                else metric_minutes.value > statistics.mean + 3 * statistics.standard_deviation
            end,
            false
        ) as is_anomalous,
        false as is_outlier,
        'prototype' as baseline_mode

    from metric_minutes
    inner join statistics
        on metric_minutes.series_id = statistics.series_id

),

final as (

    select
        *,
        -- The prototype counts every anomalous minute and knows neither outages nor profiles.
        is_anomalous as is_deviant,
        0 as deviant_streak,
        false as is_outage,
        false as is_sla_breach,
        null::float8 as profile_value

    from judged_minutes

)

select * from final
