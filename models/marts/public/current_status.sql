-- Public interface: monitoring.current_status, the latest minute of every metric with its value,
-- threshold, persistence, severity and ongoing episode: everything the prototype's /monitor
-- endpoint returned, one row per metric, as the last successful build published it.

with

metric_minutes as (

    select fct_metric_minutes.*
    from {{ ref('fct_metric_minutes') }} as fct_metric_minutes
    where
        fct_metric_minutes.minute_at = {{ published_minute() }}
        and {{ is_published('fct_metric_minutes') }}

),

metric_status as (

    select fct_metric_status.*
    from {{ ref('fct_metric_status') }} as fct_metric_status
    where
        fct_metric_status.minute_at = {{ published_minute() }}
        and {{ is_published('fct_metric_status') }}

),

metric_definitions as (

    select * from {{ ref('metric_definitions') }}

),

final as (

    select
        metric_minutes.metric_name,
        metric_minutes.dimension_name as dimension,
        metric_minutes.dimension_value,
        coalesce(
            metric_definitions.short_name,
            {{ status_rate_short_name('metric_status.metric_name') }}
        ) as short_name,
        metric_minutes.minute_at as current_minute_at,
        metric_minutes.value,
        metric_minutes.numerator,
        metric_minutes.denominator,
        metric_minutes.judged_value,
        metric_minutes.baseline,
        metric_minutes.threshold,
        metric_minutes.z_score,
        metric_minutes.is_warm,
        metric_minutes.is_anomalous,
        metric_status.consecutive_minutes,
        metric_status.episode_minutes,
        metric_status.is_in_episode,
        metric_status.severity,
        metric_status.severity_rank,
        metric_status.episode_id,
        metric_status.episode_started_at,
        metric_minutes.direction,
        metric_minutes.baseline_mode,
        -- Where it is breaking: defined here once for txmon status, the API and the dashboard.
        metric_minutes.dimension_name <> 'all' and metric_status.severity_rank > 0
            as is_breaking

    from metric_status
    inner join metric_minutes
        on metric_status.metric_minute_id = metric_minutes.metric_minute_id
    -- A rate watched because its status appeared in the data has no row in the seed.
    left join metric_definitions
        on metric_status.metric_name = metric_definitions.metric_name

)

select * from final
