-- One row per episode that reached at least the lowest alerting severity (INFO). An episode
-- runs from its first anomalous minute until recovery_minutes judged healthy minutes in a row
-- (see fct_metric_status); shorter blips stay visible in fct_metric_status.

with

metric_status as (

    select * from {{ ref('fct_metric_status') }}

),

metric_minutes as (

    select * from {{ ref('fct_metric_minutes') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

episode_minutes as (

    select
        metric_status.*,
        metric_minutes.direction

    from metric_status
    inner join metric_minutes
        on metric_status.metric_minute_id = metric_minutes.metric_minute_id
    where metric_status.episode_id is not null

),

episodes as (

    select
        episode_id,
        metric_name,
        min(direction) as direction,
        min(episode_started_at) as started_at,
        max(minute_at) as last_open_at,
        bool_or(is_latest_minute) as is_ongoing,
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
    group by episode_id, metric_name

),

final as (

    select
        episodes.episode_id,
        episodes.metric_name,
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
        episodes.threshold_at_start

    from episodes
    inner join severity_levels
        on episodes.peak_severity_rank = severity_levels.severity_rank
    where episodes.peak_severity_rank > 0

)

select * from final
