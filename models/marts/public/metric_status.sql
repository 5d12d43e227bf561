-- Public interface: monitoring.metric_status. Users and dashboards query this view by name.

with

fct_metric_status as (

    select * from {{ ref('fct_metric_status') }}

),

final as (

    select * from fct_metric_status

)

select * from final
