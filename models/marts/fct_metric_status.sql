{{
    versioned_table_config(indexes=[
        {'columns': ['series_id', 'minute_at', 'build_id'], 'unique': True},
        {'columns': ['minute_at']},
    ])
}}

-- Persistence per series and minute.
--
-- consecutive_minutes is the prototype's measure: anomalous minutes in a row ending at this
-- minute (gaps and islands: a run's minutes share minute_index minus their rank).
--
-- Episodes add hysteresis: an episode ends only after recovery_minutes judged healthy minutes
-- in a row, so an anomaly that comes back sooner continues the same episode instead of opening
-- a new one, and minutes without data to judge neither end nor extend it (missing data is not
-- a recovery).
--
-- episode_minutes is how long the anomaly itself has lasted: the episode's minutes that are
-- anomalous and deviant on their own (int_metric_baselines_trailing) and the gaps of at most
-- 2 minutes between them (a rate of a few transactions a minute is not out every minute),
-- plus the deviant minutes in a row just before its first anomalous minute, which the
-- evaluation window needed to notice the anomaly (at most a window's worth). The minutes a
-- window stays anomalous after a burst has ended are not deviant, so they do not count: a
-- burst shorter than the INFO tier never reaches it, while a lasting shift reaches it within
-- a minute or two of its true length. A quieter minute inside an incident does not end it
-- either (hysteresis). outage_minutes counts the episode's outage minutes. The
-- severity_levels seed maps both to a severity: the highest tier either has earned. With
-- recovery_minutes = 0 and the prototype's model an episode is exactly a run of consecutive
-- anomalous minutes, and episode_minutes its length.
--
-- A build recomputes the minutes of its window (int_build_window) from the verdicts of the
-- minutes since the start of the episode still open before the window, or from the window's
-- start when none is open: nothing earlier can change a later minute's persistence, so the rows
-- are those a computation over all history would give.

{%- set recovery = [recovery_minutes(), 1] | max %}
{%- set window_minutes = setting('evaluation_window_minutes') | int %}
{%- set max_gap = 2 %}

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

-- The episode each series had open at the minute before the window, if any.
open_episodes as (

    {%- if is_incremental() %}
        select
            series_id,
            episode_started_at

        from ({{ latest_versions(this, ['series_id', 'minute_at'],
        "minute_at = (select recompute_from from build_window) - interval '1 minute'") }})
            as previous_minute
        where is_in_episode
    {%- else %}
        select
            null::text as series_id,
            null::timestamptz as episode_started_at
        where false
    {%- endif %}

),

-- The verdicts of the window's minutes, and of a series with an open episode those since the
-- episode began: read per series, so that one long episode costs only its own minutes.
metric_minutes as (

    (
        {{ latest_versions(ref('fct_metric_minutes'), ['series_id', 'minute_at'],
            "minute_at >= (select recompute_from from build_window)") }}
    )

    union all

    (
        {{ latest_versions_since(ref('fct_metric_minutes'), 'open_episodes', 'episode_started_at',
            "versions.minute_at < (select build_window.recompute_from from build_window)") }}
    )

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

islands as (

    select
        *,
        minute_index - row_number() over (
            partition by series_id, is_anomalous
            order by minute_index
        ) as island_key,
        -- Judged healthy minutes so far: recovery is counted in these.
        count(*) filter (where has_window_data and not is_anomalous) over (
            partition by series_id
            order by minute_index
            rows between unbounded preceding and current row
        ) as healthy_minutes_so_far,
        is_anomalous and is_deviant as is_counted

    from metric_minutes

),

runs as (

    select
        *,
        case
            when is_anomalous
                then row_number() over (
                    partition by series_id, is_anomalous, island_key
                    order by minute_index
                )
            else 0
        end::integer as consecutive_minutes,
        -- For an anomalous minute: judged healthy minutes since the previous anomalous one.
        healthy_minutes_so_far - lag(healthy_minutes_so_far) over (
            partition by series_id, is_anomalous
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
            partition by series_id
            order by minute_index
            rows between unbounded preceding and current row
        ) as episode_number

    from runs

),

latest_anomalies as (

    select
        *,
        max(case when is_anomalous then minute_index end) over (
            partition by series_id
            order by minute_index
            rows between unbounded preceding and current row
        ) as last_anomalous_index,
        max(case when is_anomalous then healthy_minutes_so_far end) over (
            partition by series_id
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
            partition by series_id, episode_number
        ) as episode_start_index,
        min(case when is_anomalous then minute_at end) over (
            partition by series_id, episode_number
        ) as episode_start_at

    from latest_anomalies

),

-- Where the anomaly began: the episode's first anomalous minute, or earlier by the deviant
-- minutes in a row before it (at most a window's worth); and the minutes that count so far.
-- A counted minute brings the quieter minutes since the previous one along when they are at
-- most {{ max_gap }}: an anomaly that is out most minutes lasts all of them.
counted_gaps as (

    select
        *,
        case
            when is_counted
                then
                    1 + coalesce(
                        nullif(
                            least(
                                minute_index - 1 - max(
                                    case when is_counted then minute_index end
                                ) over episode_before,
                                {{ max_gap + 1 }}
                            ),
                            {{ max_gap + 1 }}
                        ),
                        0
                    )
            else 0
        end as counted_with_gap

    from episodes
    window episode_before as (
        partition by series_id, episode_number
        order by minute_index
        rows between unbounded preceding and 1 preceding
    )

),

onsets as (

    select
        *,
        episode_start_index - least(
            greatest(
                max(case when minute_index = episode_start_index then deviant_streak end)
                    over episode
                - 1,
                0
            ),
            {{ window_minutes - 1 }}
        ) as onset_index,
        {%- if setting('baseline_mode') == 'prototype' %}
            -- The prototype counts every anomalous minute.
            count(*) filter (where is_anomalous) over episode_so_far as counted_minutes,
        {%- else %}
            sum(counted_with_gap) over episode_so_far as counted_minutes,
        {%- endif %}
        count(*) filter (where is_outage) over episode_so_far as outage_minutes_so_far,
        count(*) filter (where is_sla_breach) over episode_so_far as sla_minutes_so_far

    from counted_gaps
    window
        episode as (partition by series_id, episode_number),
        episode_so_far as (
            partition by series_id, episode_number
            order by minute_index
            rows between unbounded preceding and current row
        )

),

persistence as (

    select
        *,
        case
            when is_in_episode then episode_start_index - onset_index + counted_minutes
            else 0
        end::integer as episode_minutes,
        case when is_in_episode then outage_minutes_so_far else 0 end::integer as outage_minutes,
        case when is_in_episode then sla_minutes_so_far else 0 end::integer as sla_minutes

    from onsets

),

severities as (

    select
        persistence.*,
        earned.severity,
        earned.severity_rank

    from persistence
    cross join
        lateral (
            select
                severity_levels.severity,
                severity_levels.severity_rank
            from severity_levels
            where
                persistence.episode_minutes >= severity_levels.min_episode_minutes
                or persistence.outage_minutes >= severity_levels.min_outage_minutes
                -- latency_sla_minutes above the SLA earn the first tier above HEALTHY.
                or persistence.sla_minutes >= {{ setting('latency_sla_minutes') | int }}
                and severity_levels.severity_rank = (
                    select min(first_tier.severity_rank) as first_rank
                    from severity_levels as first_tier
                    where first_tier.severity_rank > 0
                )
            order by severity_levels.severity_rank desc
            limit 1
        ) as earned

),

final as (

    select
        severities.metric_minute_id,
        severities.series_id,
        severities.metric_name,
        severities.dimension_name,
        severities.dimension_value,
        severities.minute_at,
        severities.minute_index,
        severities.value,
        severities.judged_value,
        severities.baseline,
        severities.threshold,
        severities.z_score,
        severities.is_anomalous,
        severities.has_window_data,
        severities.consecutive_minutes,
        severities.is_in_episode,
        severities.episode_minutes,
        severities.outage_minutes,
        severities.severity,
        severities.severity_rank,
        case
            when severities.is_in_episode
                then
                    severities.series_id || '@'
                    || {{ format_minute('severities.episode_start_at') }}
        end as episode_id,
        case
            when severities.is_in_episode then severities.episode_start_at
        end as episode_started_at,
        severities.baseline_mode,
        build_window.build_id

    from severities
    inner join build_window
        on severities.minute_at >= build_window.recompute_from

)

select * from final
