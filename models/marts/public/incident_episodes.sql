-- Public interface: monitoring.incident_episodes, which incident each episode that paged
-- belongs to, as Alertmanager groups alerts: one incident, one page.
--
-- Episodes of one cut (all transactions, or one dimension value such as acquirer = stone)
-- whose paging spans (from their ALERT to their RECOVERY, or still open) overlap, or start
-- within incident_slack_minutes of the end of one, form a run. Runs of different cuts join
-- through the series of all transactions: a run of all transactions joins the earliest run
-- of a dimension value open when it began (the acquirer paged first, then the overall rate
-- followed), and a run of a dimension value that begins while a run of all transactions is
-- open joins that one. Each run is placed once, when it begins, by the runs open then, so an
-- incident's id never changes and two incidents never merge: what paged under an id recovers
-- under it. Read from the published alert events, so it always agrees with
-- monitoring.alert_events.

{%- set slack = setting('incident_slack_minutes') | int %}

with recursive

alert_events as (

    select * from {{ ref('alert_events') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

paging_spans as (

    select
        alert_events.episode_id,
        alert_events.metric_name,
        alert_events.dimension,
        alert_events.dimension_value,
        min(alert_events.minute_at) filter (where alert_events.event_type = 'ALERT')
            as alerted_at,
        max(alert_events.minute_at) filter (where alert_events.event_type = 'RECOVERY')
            as recovered_at,
        max(severity_levels.severity_rank) filter (where alert_events.event_type <> 'RECOVERY')
            as peak_severity_rank

    from alert_events
    inner join severity_levels
        on alert_events.severity = severity_levels.severity
    group by
        alert_events.episode_id,
        alert_events.metric_name,
        alert_events.dimension,
        alert_events.dimension_value
    having count(*) filter (where alert_events.event_type = 'ALERT') > 0

),

-- A new run of a cut begins with an episode that alerts after every earlier episode of the cut
-- has recovered, by more than the slack.
openings as (

    select
        *,
        coalesce(
            alerted_at > max(coalesce(recovered_at, 'infinity'::timestamptz)) over earlier
            + interval '{{ slack }} minutes',
            true
        ) as is_opening

    from paging_spans
    window earlier as (
        partition by dimension, dimension_value
        order by alerted_at, episode_id
        rows between unbounded preceding and 1 preceding
    )

),

numbered as (

    select
        *,
        count(*) filter (where is_opening) over (
            partition by dimension, dimension_value
            order by alerted_at, episode_id
        ) as run_number

    from openings

),

-- Each run: its cut, when it began and until when it takes members (infinity while open).
runs as (

    select
        dimension,
        dimension_value,
        run_number,
        dimension = 'all' as is_overall,
        -- Of runs that begin in the same minute, the one of all transactions comes first, so
        -- the values' runs beginning with it join it.
        case when dimension = 'all' then 0 else 1 end as cut_rank,
        min(alerted_at) as began_at,
        case
            when bool_and(recovered_at is not null)
                then max(recovered_at) + interval '{{ slack }} minutes'
            else 'infinity'::timestamptz
        end as open_until

    from numbered
    group by dimension, dimension_value, run_number

),

-- The run each run joins, chosen when it began among the runs of the other side open then:
-- for a run of all transactions the earliest run of a dimension value, for a run of a
-- dimension value the earliest run of all transactions, each begun before it (in the same
-- minute, the run of all transactions counts as first).
joined as (

    select
        runs.dimension,
        runs.dimension_value,
        runs.run_number,
        runs.began_at,
        joined_run.dimension as host_dimension,
        joined_run.dimension_value as host_dimension_value,
        joined_run.run_number as host_run_number

    from runs
    left join lateral (
        select
            other.dimension,
            other.dimension_value,
            other.run_number

        from runs as other
        where
            other.is_overall <> runs.is_overall
            and other.began_at <= runs.began_at
            and runs.began_at <= other.open_until
            and (other.began_at, other.cut_rank, other.dimension, other.dimension_value)
            < (runs.began_at, runs.cut_rank, runs.dimension, runs.dimension_value)
        order by
            other.began_at asc,
            other.cut_rank asc,
            other.dimension asc,
            other.dimension_value asc
        limit 1
    ) as joined_run on true

),

-- Follow the joins to the run that began the incident (each step goes to an earlier run).
roots as (

    select
        dimension,
        dimension_value,
        run_number,
        dimension as root_dimension,
        dimension_value as root_dimension_value,
        began_at as root_began_at,
        host_dimension,
        host_dimension_value,
        host_run_number

    from joined

    union all

    select
        roots.dimension,
        roots.dimension_value,
        roots.run_number,
        joined.dimension as root_dimension,
        joined.dimension_value as root_dimension_value,
        joined.began_at as root_began_at,
        joined.host_dimension,
        joined.host_dimension_value,
        joined.host_run_number

    from roots
    inner join joined
        on
            roots.host_dimension = joined.dimension
            and roots.host_dimension_value = joined.dimension_value
            and roots.host_run_number = joined.run_number

),

incident_roots as (

    select
        dimension,
        dimension_value,
        run_number,
        'incident'
        || case
            when root_dimension = 'all' then ''
            else '[' || root_dimension || '=' || root_dimension_value || ']'
        end
        || '@' || {{ format_minute('root_began_at') }} as incident_id

    from roots
    where host_run_number is null

),

final as (

    select
        incident_roots.incident_id,
        numbered.episode_id,
        numbered.metric_name,
        numbered.dimension,
        numbered.dimension_value,
        numbered.alerted_at,
        numbered.recovered_at,
        severity_levels.severity as peak_severity,
        numbered.peak_severity_rank

    from numbered
    inner join incident_roots
        on
            numbered.dimension = incident_roots.dimension
            and numbered.dimension_value = incident_roots.dimension_value
            and numbered.run_number = incident_roots.run_number
    inner join severity_levels
        on numbered.peak_severity_rank = severity_levels.severity_rank

)

select * from final
