-- Public interface: monitoring.metric_minutes. Users and dashboards query this view by name.

with

fct_metric_minutes as (

    select * from {{ ref('fct_metric_minutes') }}

),

final as (

    select * from fct_metric_minutes

)

select * from final
