-- Public interface: monitoring.anomaly_episodes. Users and dashboards query this view by name.
-- It shows what the last successful build published (see build_state.sql).

with

fct_anomaly_episodes as (

    select * from {{ ref('fct_anomaly_episodes') }}

),

final as (

    select
        fct_anomaly_episodes.episode_id,
        fct_anomaly_episodes.metric_name,
        fct_anomaly_episodes.dimension_name as dimension,
        fct_anomaly_episodes.dimension_value,
        fct_anomaly_episodes.started_at,
        fct_anomaly_episodes.ended_at,
        fct_anomaly_episodes.last_anomalous_at,
        fct_anomaly_episodes.is_ongoing,
        fct_anomaly_episodes.minutes,
        fct_anomaly_episodes.anomalous_minutes,
        fct_anomaly_episodes.peak_severity,
        fct_anomaly_episodes.peak_severity_rank,
        fct_anomaly_episodes.peak_value,
        fct_anomaly_episodes.peak_judged_value,
        fct_anomaly_episodes.baseline_at_start,
        fct_anomaly_episodes.threshold_at_start

    from fct_anomaly_episodes
    where {{ is_published('fct_anomaly_episodes') }}

)

select * from final
