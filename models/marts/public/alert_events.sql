-- Public interface: monitoring.alert_events. Users and dashboards query this view by name.

with

fct_alert_events as (

    select * from {{ ref('fct_alert_events') }}

),

final as (

    select * from fct_alert_events

)

select * from final
