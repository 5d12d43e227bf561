-- Public interface: monitoring.anomaly_episodes. Users and dashboards query this view by name.

with

fct_anomaly_episodes as (

    select * from {{ ref('fct_anomaly_episodes') }}

),

final as (

    select * from fct_anomaly_episodes

)

select * from final
