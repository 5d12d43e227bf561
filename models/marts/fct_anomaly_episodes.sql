{{
    versioned_table_config(indexes=[
        {'columns': ['episode_id', 'build_id'], 'unique': True},
        {'columns': ['last_minute_at']},
    ])
}}

-- One row per episode that reached at least the lowest alerting severity (INFO). An episode
-- runs from its first anomalous minute until recovery_minutes judged healthy minutes in a row
-- (see fct_metric_status); shorter blips stay visible in fct_metric_status. A build recomputes
-- every episode with a minute in its window, over all of that episode's minutes.

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

-- The episodes this build recomputed a minute of, and where each series' first of them began:
-- its minutes are read from there, per series, so a long episode costs only its own minutes.
episodes_in_window as (

    select distinct
        recomputed.episode_id,
        recomputed.series_id,
        recomputed.episode_started_at

    from {{ ref('fct_metric_status') }} as recomputed
    where
        recomputed.build_id = (select build_window.build_id from build_window)
        and recomputed.minute_at >= (select build_window.recompute_from from build_window)
        and recomputed.episode_id is not null

),

episode_series as (

    select
        series_id,
        min(episode_started_at) as started_at

    from episodes_in_window
    group by series_id

),

metric_status as (

    {{ latest_versions_since(ref('fct_metric_status'), 'episode_series', 'started_at') }}

),

metric_definitions as (

    select * from {{ ref('int_metric_definitions_completed') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

episode_minutes as (

    select
        metric_status.*,
        metric_definitions.direction

    from metric_status
    inner join metric_definitions
        on metric_status.metric_name = metric_definitions.metric_name
    where metric_status.episode_id in (select episodes_in_window.episode_id from episodes_in_window)

),

episodes as (

    select
        episode_id,
        series_id,
        metric_name,
        dimension_name,
        dimension_value,
        min(direction) as direction,
        min(episode_started_at) as started_at,
        max(minute_at) as last_open_at,
        max(minute_at) = (select build_window.newest_minute_at from build_window) as is_ongoing,
        max(minute_at) filter (where is_anomalous) as last_anomalous_at,
        max(episode_minutes) as minutes,
        count(*) filter (where is_anomalous)::integer as anomalous_minutes,
        max(severity_rank) as peak_severity_rank,
        max(value) filter (where is_anomalous) as highest_value,
        min(value) filter (where is_anomalous) as lowest_value,
        max(judged_value) filter (where is_anomalous) as highest_judged_value,
        min(judged_value) filter (where is_anomalous) as lowest_judged_value,
        (array_agg(baseline order by minute_at))[1] as baseline_at_start,
        (array_agg(threshold order by minute_at))[1] as threshold_at_start

    from episode_minutes
    group by episode_id, series_id, metric_name, dimension_name, dimension_value

),

final as (

    select
        episodes.episode_id,
        episodes.series_id,
        episodes.metric_name,
        episodes.dimension_name,
        episodes.dimension_value,
        episodes.started_at,
        case
            when not episodes.is_ongoing then episodes.last_open_at + interval '1 minute'
        end as ended_at,
        episodes.last_anomalous_at,
        episodes.is_ongoing,
        episodes.minutes,
        episodes.anomalous_minutes,
        severity_levels.severity as peak_severity,
        episodes.peak_severity_rank,
        case
            when episodes.direction = 'below' then episodes.lowest_value else episodes.highest_value
        end as peak_value,
        case
            when episodes.direction = 'below'
                then episodes.lowest_judged_value
            else episodes.highest_judged_value
        end as peak_judged_value,
        episodes.baseline_at_start,
        episodes.threshold_at_start,
        -- The episode's latest minute, open or ended: what a later build may recompute.
        episodes.last_open_at as last_minute_at,
        (select build_window.build_id from build_window) as build_id

    from episodes
    inner join severity_levels
        on episodes.peak_severity_rank = severity_levels.severity_rank
    where episodes.peak_severity_rank > 0

)

select * from final
