-- How many episodes each metric had per day, and how long they lasted: the daily review.

with

anomaly_episodes as (

    select * from {{ ref('anomaly_episodes') }}

),

final as (

    select
        date_trunc('day', started_at, 'UTC') as day_at,
        metric_name,
        count(*) as episodes,
        sum(minutes) as anomalous_minutes,
        max(minutes) as longest_minutes,
        max(peak_severity_rank) as worst_severity_rank

    from anomaly_episodes
    group by date_trunc('day', started_at, 'UTC'), metric_name
    order by day_at, metric_name

)

select * from final
