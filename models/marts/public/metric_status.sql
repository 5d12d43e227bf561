-- Public interface: monitoring.metric_status. Users and dashboards query this view by name.
-- It shows what the last successful build published (see build_state.sql).

with

fct_metric_status as (

    select * from {{ ref('fct_metric_status') }}

),

final as (

    select
        fct_metric_status.metric_minute_id,
        fct_metric_status.metric_name,
        fct_metric_status.dimension_name as dimension,
        fct_metric_status.dimension_value,
        fct_metric_status.minute_at,
        fct_metric_status.minute_index,
        fct_metric_status.value,
        fct_metric_status.judged_value,
        fct_metric_status.baseline,
        fct_metric_status.threshold,
        fct_metric_status.z_score,
        fct_metric_status.is_anomalous,
        fct_metric_status.has_window_data,
        fct_metric_status.consecutive_minutes,
        fct_metric_status.is_in_episode,
        fct_metric_status.episode_minutes,
        fct_metric_status.severity,
        fct_metric_status.severity_rank,
        fct_metric_status.episode_id,
        fct_metric_status.episode_started_at,
        fct_metric_status.minute_at = {{ published_minute() }} as is_latest_minute,
        fct_metric_status.baseline_mode

    from fct_metric_status
    where {{ is_published('fct_metric_status') }}

)

select * from final
