-- Every change of severity per metric: ALERT when an episode first reaches a severity,
-- ESCALATION when it reaches a higher one, RECOVERY on the first normal minute after it.
-- alert_event_id (episode, event, severity) is unique: the dispatcher's deduplication key.

with

metric_status as (

    select * from {{ ref('fct_metric_status') }}

),

with_previous as (

    select
        *,
        lag(severity, 1, 'HEALTHY') over by_minute as previous_severity,
        lag(severity_rank, 1, 0) over by_minute as previous_severity_rank,
        lag(episode_id) over by_minute as previous_episode_id,
        lag(episode_minutes, 1, 0) over by_minute as previous_episode_minutes

    from metric_status
    window by_minute as (partition by metric_name order by minute_at)

),

changes as (

    select
        *,
        case
            when previous_severity_rank = 0 then 'ALERT'
            when severity_rank = 0 then 'RECOVERY'
            when severity_rank > previous_severity_rank then 'ESCALATION'
            else 'DEESCALATION'
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
        metric_name,
        minute_at,
        event_type,
        severity,
        previous_severity,
        case
            when event_type = 'RECOVERY' then previous_episode_minutes else episode_minutes
        end as consecutive_minutes,
        value,
        judged_value,
        baseline,
        threshold,
        case
            when event_type = 'RECOVERY'
                then
                    upper(metric_name) || ' recovered after ' || previous_episode_minutes
                    || ' minutes (was ' || previous_severity || ')'
            else
                upper(metric_name) || ' anomaly persisted for ' || episode_minutes || ' minutes'
        end as message,
        baseline_mode

    from changes

)

select * from final
