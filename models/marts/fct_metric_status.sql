{{
    config(
        indexes=[
            {'columns': ['metric_name', 'minute_at'], 'unique': True},
        ],
    )
}}

-- Persistence per metric and minute: how many consecutive anomalous minutes end at this minute
-- (gaps and islands: a run's minutes share minute_index - their rank among anomalous minutes),
-- the severity that many minutes earn, and the episode (run) the minute belongs to.

with

metric_minutes as (

    select * from {{ ref('fct_metric_minutes') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

severity_bands as (

    select
        severity,
        severity_rank,
        min_consecutive_minutes,
        lead(min_consecutive_minutes) over (
            order by min_consecutive_minutes
        ) as next_level_minutes

    from severity_levels

),

islands as (

    select
        *,
        minute_index - row_number() over (
            partition by metric_name, is_anomalous
            order by minute_index
        ) as island_key

    from metric_minutes

),

runs as (

    select
        *,
        case
            when is_anomalous
                then row_number() over (
                    partition by metric_name, is_anomalous, island_key
                    order by minute_index
                )
            else 0
        end::integer as consecutive_minutes,
        case
            when is_anomalous
                then min(minute_at) over (partition by metric_name, is_anomalous, island_key)
        end as run_started_at

    from islands

),

final as (

    select
        runs.metric_minute_id,
        runs.metric_name,
        runs.minute_at,
        runs.minute_index,
        runs.value,
        runs.judged_value,
        runs.baseline,
        runs.threshold,
        runs.z_score,
        runs.is_anomalous,
        runs.consecutive_minutes,
        severity_bands.severity,
        severity_bands.severity_rank,
        case
            when runs.is_anomalous
                then runs.metric_name || '@' || {{ format_minute('runs.run_started_at') }}
        end as episode_id,
        runs.run_started_at as episode_started_at,
        runs.baseline_mode

    from runs
    inner join severity_bands
        on
            runs.consecutive_minutes >= severity_bands.min_consecutive_minutes
            and (
                runs.consecutive_minutes < severity_bands.next_level_minutes
                or severity_bands.next_level_minutes is null
            )

)

select * from final
