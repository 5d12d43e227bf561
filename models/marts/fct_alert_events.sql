{{
    versioned_table_config(indexes=[
        {'columns': ['alert_event_id', 'build_id'], 'unique': True},
        {'columns': ['minute_at']},
    ])
}}

-- Every change of severity per series: ALERT when an episode first reaches a severity,
-- ESCALATION when it reaches a higher one, RECOVERY when the episode ends (recovery_minutes
-- judged healthy minutes after its last anomalous one, see fct_metric_status). Severity only
-- rises within an episode, so there is no de-escalation. alert_event_id (episode, event,
-- severity) is unique: the dispatcher's deduplication key. episode_minutes is how long the
-- episode had persisted (for a RECOVERY, how long it lasted). A build recomputes the events of
-- the minutes in its window, each compared with the minute before.

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

metric_status as (

    {{ latest_versions(ref('fct_metric_status'), ['series_id', 'minute_at'],
        "minute_at >= (select recompute_from from build_window) - interval '1 minute'") }}

),

with_previous as (

    select
        *,
        lag(severity, 1, 'HEALTHY') over by_minute as previous_severity,
        lag(severity_rank, 1, 0) over by_minute as previous_severity_rank,
        lag(episode_id) over by_minute as previous_episode_id,
        lag(episode_minutes, 1, 0) over by_minute as previous_episode_minutes

    from metric_status
    window by_minute as (partition by series_id order by minute_at)

),

changes as (

    select
        *,
        case
            when previous_severity_rank = 0 then 'ALERT'
            when severity_rank = 0 then 'RECOVERY'
            else 'ESCALATION'
        end as event_type,
        case
            when severity_rank = 0 then previous_episode_id else episode_id
        end as alert_episode_id

    from with_previous
    where severity <> previous_severity

),

final as (

    select
        alert_episode_id || ':' || event_type || ':' || severity as alert_event_id,
        alert_episode_id as episode_id,
        series_id,
        metric_name,
        dimension_name,
        dimension_value,
        minute_at,
        event_type,
        severity,
        previous_severity,
        case
            when event_type = 'RECOVERY' then previous_episode_minutes else episode_minutes
        end as episode_minutes,
        value,
        judged_value,
        baseline,
        threshold,
        case
            when event_type = 'RECOVERY'
                then
                    {{ series_label('metric_name', 'dimension_name', 'dimension_value') }}
                    || ' recovered after ' || previous_episode_minutes
                    || ' minutes (was ' || previous_severity || ')'
            else
                {{ series_label('metric_name', 'dimension_name', 'dimension_value') }}
                || ' anomaly persisted for ' || episode_minutes || ' minutes'
        end as message,
        baseline_mode,
        (select build_window.build_id from build_window) as build_id

    from changes
    where minute_at >= (select build_window.recompute_from from build_window)

)

select * from final
