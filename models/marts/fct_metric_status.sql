{{
    versioned_table_config(indexes=[
        {'columns': ['metric_name', 'minute_at', 'build_id'], 'unique': True},
        {'columns': ['minute_at']},
    ])
}}

-- Persistence per metric and minute.
--
-- consecutive_minutes is the prototype's measure: anomalous minutes in a row ending at this
-- minute (gaps and islands: a run's minutes share minute_index minus their rank).
--
-- Episodes add hysteresis: an episode ends only after recovery_minutes judged healthy minutes
-- in a row, so an anomaly that comes back sooner continues the same episode instead of opening
-- a new one, and minutes without data to judge neither end nor extend it (missing data is not
-- a recovery). episode_minutes is how long the episode has persisted, from its first to its
-- latest anomalous minute; the severity_levels seed maps it to a severity. With
-- recovery_minutes = 0 an episode is exactly a run of consecutive anomalous minutes.
--
-- A build recomputes the minutes of its window (int_build_window) from the verdicts of the
-- minutes since the start of the episode still open before the window, or from the window's
-- start when none is open: nothing earlier can change a later minute's persistence, so the rows
-- are those a computation over all history would give.

{%- set recovery = [recovery_minutes(), 1] | max %}

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

-- The episode each metric had open at the minute before the window, if any.
open_episodes as (

    {%- if is_incremental() %}
        select
            metric_name,
            episode_started_at

        from ({{ latest_versions(this, ['metric_name', 'minute_at'],
        "minute_at = (select recompute_from from build_window) - interval '1 minute'") }})
            as previous_minute
        where is_in_episode
    {%- else %}
        select
            null::text as metric_name,
            null::timestamptz as episode_started_at
        where false
    {%- endif %}

),

metric_minutes as (

    select verdicts.*
    from ({{ latest_versions(ref('fct_metric_minutes'), ['metric_name', 'minute_at'],
        "minute_at >= (select least(min(episode_started_at), max(build_window.recompute_from))
            from build_window left join open_episodes on true)") }}) as verdicts
    inner join build_window on true
    left join open_episodes
        on verdicts.metric_name = open_episodes.metric_name
    where
        verdicts.minute_at
        >= coalesce(open_episodes.episode_started_at, build_window.recompute_from)

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

severity_bands as (

    select
        severity,
        severity_rank,
        min_episode_minutes,
        lead(min_episode_minutes) over (
            order by min_episode_minutes
        ) as next_level_minutes

    from severity_levels

),

islands as (

    select
        *,
        minute_index - row_number() over (
            partition by metric_name, is_anomalous
            order by minute_index
        ) as island_key,
        -- Judged healthy minutes so far: recovery is counted in these.
        count(*) filter (where has_window_data and not is_anomalous) over (
            partition by metric_name
            order by minute_index
            rows between unbounded preceding and current row
        ) as healthy_minutes_so_far

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
        -- For an anomalous minute: judged healthy minutes since the previous anomalous one.
        healthy_minutes_so_far - lag(healthy_minutes_so_far) over (
            partition by metric_name, is_anomalous
            order by minute_index
        ) as healthy_minutes_between

    from islands

),

episode_starts as (

    select
        *,
        sum(
            case
                when
                    is_anomalous
                    and (
                        healthy_minutes_between is null
                        or healthy_minutes_between >= {{ recovery }}
                    )
                    then 1
                else 0
            end
        ) over (
            partition by metric_name
            order by minute_index
            rows between unbounded preceding and current row
        ) as episode_number

    from runs

),

latest_anomalies as (

    select
        *,
        max(case when is_anomalous then minute_index end) over (
            partition by metric_name
            order by minute_index
            rows between unbounded preceding and current row
        ) as last_anomalous_index,
        max(case when is_anomalous then healthy_minutes_so_far end) over (
            partition by metric_name
            order by minute_index
            rows between unbounded preceding and current row
        ) as healthy_minutes_at_last_anomaly

    from episode_starts

),

episodes as (

    select
        *,
        last_anomalous_index is not null
        and (
            is_anomalous
            or healthy_minutes_so_far - healthy_minutes_at_last_anomaly < {{ recovery }}
        ) as is_in_episode,
        min(case when is_anomalous then minute_index end) over (
            partition by metric_name, episode_number
        ) as episode_start_index,
        min(case when is_anomalous then minute_at end) over (
            partition by metric_name, episode_number
        ) as episode_start_at

    from latest_anomalies

),

persistence as (

    select
        *,
        case
            when is_in_episode then last_anomalous_index - episode_start_index + 1 else 0
        end::integer as episode_minutes

    from episodes

),

final as (

    select
        persistence.metric_minute_id,
        persistence.metric_name,
        persistence.minute_at,
        persistence.minute_index,
        persistence.value,
        persistence.judged_value,
        persistence.baseline,
        persistence.threshold,
        persistence.z_score,
        persistence.is_anomalous,
        persistence.has_window_data,
        persistence.consecutive_minutes,
        persistence.is_in_episode,
        persistence.episode_minutes,
        severity_bands.severity,
        severity_bands.severity_rank,
        case
            when persistence.is_in_episode
                then
                    persistence.metric_name || '@'
                    || {{ format_minute('persistence.episode_start_at') }}
        end as episode_id,
        case
            when persistence.is_in_episode then persistence.episode_start_at
        end as episode_started_at,
        persistence.baseline_mode,
        build_window.build_id

    from persistence
    inner join build_window
        on persistence.minute_at >= build_window.recompute_from
    inner join severity_bands
        on
            persistence.episode_minutes >= severity_bands.min_episode_minutes
            and (
                persistence.episode_minutes < severity_bands.next_level_minutes
                or severity_bands.next_level_minutes is null
            )

)

select * from final
