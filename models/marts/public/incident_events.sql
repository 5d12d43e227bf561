-- Public interface: monitoring.incident_events, what the dispatcher pages per incident (see
-- incident_episodes): ALERT when the incident opens, ESCALATION each time its worst severity
-- rises, whichever member raised it, and RECOVERY when it closes (monitoring.incidents). Each
-- names the member whose event it is and lists every member so far with its worst severity
-- by then. incident_event_id (incident, event, severity) is unique: the dispatcher's
-- deduplication key.

with

alert_events as (

    select * from {{ ref('alert_events') }}

),

incident_episodes as (

    select * from {{ ref('incident_episodes') }}

),

incidents as (

    select * from {{ ref('incidents') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

member_events as (

    select
        incident_episodes.incident_id,
        alert_events.episode_id,
        alert_events.metric_name,
        alert_events.dimension,
        alert_events.dimension_value,
        alert_events.minute_at,
        alert_events.event_type,
        alert_events.severity,
        severity_levels.severity_rank,
        alert_events.value,
        alert_events.judged_value,
        alert_events.baseline,
        alert_events.threshold

    from alert_events
    inner join incident_episodes
        on alert_events.episode_id = incident_episodes.episode_id
    inner join severity_levels
        on alert_events.severity = severity_levels.severity

),

-- The incident's worst severity after each member event, and before it (of events in the same
-- minute the highest counts first, so that one minute raises it once).
worst_so_far as (

    select
        *,
        max(severity_rank) over in_order as worst_rank,
        coalesce(max(severity_rank) over before_it, 0) as previous_worst_rank

    from member_events
    where event_type <> 'RECOVERY'
    window
        in_order as (
            partition by incident_id
            order by
                minute_at asc, severity_rank desc, metric_name asc, dimension asc,
                dimension_value asc
            rows unbounded preceding
        ),
        before_it as (
            partition by incident_id
            order by
                minute_at asc, severity_rank desc, metric_name asc, dimension asc,
                dimension_value asc
            rows between unbounded preceding and 1 preceding
        )

),

raises as (

    select
        worst_so_far.incident_id,
        worst_so_far.metric_name,
        worst_so_far.dimension,
        worst_so_far.dimension_value,
        worst_so_far.minute_at,
        case when worst_so_far.previous_worst_rank = 0 then 'ALERT' else 'ESCALATION' end
            as event_type,
        worst_severity.severity,
        previous_severity.severity as previous_severity,
        worst_so_far.value,
        worst_so_far.judged_value,
        worst_so_far.baseline,
        worst_so_far.threshold

    from worst_so_far
    inner join severity_levels as worst_severity
        on worst_so_far.worst_rank = worst_severity.severity_rank
    inner join severity_levels as previous_severity
        on worst_so_far.previous_worst_rank = previous_severity.severity_rank
    where worst_so_far.worst_rank > worst_so_far.previous_worst_rank

),

-- The member that recovered last, at the minute the incident closes.
closings as (

    select distinct on (incidents.incident_id)
        incidents.incident_id,
        member_events.metric_name,
        member_events.dimension,
        member_events.dimension_value,
        incidents.closed_at as minute_at,
        'RECOVERY' as event_type,
        'HEALTHY' as severity,
        incidents.worst_severity as previous_severity,
        member_events.value,
        member_events.judged_value,
        member_events.baseline,
        member_events.threshold

    from incidents
    inner join member_events
        on
            incidents.incident_id = member_events.incident_id
            and member_events.event_type = 'RECOVERY'
    where incidents.closed_at is not null
    order by
        incidents.incident_id asc,
        member_events.minute_at desc,
        member_events.metric_name asc,
        member_events.dimension asc,
        member_events.dimension_value asc

),

incident_events as (

    select * from raises
    union all
    select * from closings

),

-- Every member by the event's minute, with its worst severity by then (a RECOVERY: over the
-- whole incident).
member_lists as (

    select
        incident_events.incident_id,
        incident_events.event_type,
        incident_events.severity,
        string_agg(
            member_worst.series_id || ' ' || member_worst.severity, ', '
            order by member_worst.severity_rank desc, member_worst.series_id asc
        ) as members

    from incident_events
    cross join
        lateral (
            select distinct on (member_events.episode_id)
                {{ series_id(
                    'member_events.metric_name',
                    'member_events.dimension',
                    'member_events.dimension_value'
                ) }} as series_id,
                member_events.severity,
                member_events.severity_rank
            from member_events
            where
                member_events.incident_id = incident_events.incident_id
                and member_events.event_type <> 'RECOVERY'
                and member_events.minute_at <= incident_events.minute_at
            order by member_events.episode_id asc, member_events.severity_rank desc
        ) as member_worst
    group by incident_events.incident_id, incident_events.event_type, incident_events.severity

),

final as (

    select
        incident_events.incident_id || ':' || incident_events.event_type || ':'
        || incident_events.severity as incident_event_id,
        incident_events.incident_id,
        incident_events.metric_name,
        incident_events.dimension,
        incident_events.dimension_value,
        incident_events.minute_at,
        incident_events.event_type,
        incident_events.severity,
        incident_events.previous_severity,
        (
            extract(epoch from incident_events.minute_at - incidents.opened_at) / 60
        )::integer as incident_minutes,
        incident_events.value,
        incident_events.judged_value,
        incident_events.baseline,
        incident_events.threshold,
        member_lists.members,
        case
            when incident_events.event_type = 'RECOVERY'
                then
                    'INCIDENT recovered after '
                    || (
                        extract(epoch from incidents.last_recovered_at - incidents.opened_at)
                        / 60
                    )::integer
                    || ' minutes (was ' || incident_events.previous_severity || '): '
                    || member_lists.members
            else
                'INCIDENT ' || incident_events.severity || ': ' || member_lists.members
        end as message

    from incident_events
    inner join incidents
        on incident_events.incident_id = incidents.incident_id
    inner join member_lists
        on
            incident_events.incident_id = member_lists.incident_id
            and incident_events.event_type = member_lists.event_type
            and incident_events.severity = member_lists.severity

)

select * from final
