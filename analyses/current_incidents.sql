-- What is wrong right now: every metric that is anomalous at the latest minute, worst first,
-- with how long its episode has lasted (which earned the severity) and its current run of
-- anomalous minutes.

with

current_status as (

    select * from {{ ref('current_status') }}

),

final as (

    select
        metric_name,
        severity,
        episode_minutes,
        consecutive_minutes,
        value,
        threshold,
        episode_started_at

    from current_status
    where is_anomalous
    order by severity_rank desc, episode_minutes desc

)

select * from final
