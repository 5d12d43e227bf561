-- Public interface: monitoring.alert_events. Users and dashboards query this view by name.
-- It shows what the last successful build published (see build_state.sql).

with

fct_alert_events as (

    select * from {{ ref('fct_alert_events') }}

),

final as (

    select
        fct_alert_events.alert_event_id,
        fct_alert_events.episode_id,
        fct_alert_events.metric_name,
        fct_alert_events.dimension_name as dimension,
        fct_alert_events.dimension_value,
        fct_alert_events.minute_at,
        fct_alert_events.event_type,
        fct_alert_events.severity,
        fct_alert_events.previous_severity,
        fct_alert_events.episode_minutes,
        fct_alert_events.value,
        fct_alert_events.judged_value,
        fct_alert_events.baseline,
        fct_alert_events.threshold,
        fct_alert_events.message,
        fct_alert_events.baseline_mode

    from fct_alert_events
    where {{ is_published('fct_alert_events') }}

)

select * from final
