-- What is wrong right now: every metric that is anomalous at the latest minute, worst first.

with

current_status as (

    select * from {{ ref('current_status') }}

),

final as (

    select
        metric_name,
        severity,
        consecutive_minutes,
        value,
        threshold,
        episode_started_at

    from current_status
    where is_anomalous
    order by severity_rank desc, consecutive_minutes desc

)

select * from final
