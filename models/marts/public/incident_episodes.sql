-- Public interface: monitoring.incident_episodes, which incident each episode that paged
-- belongs to. Episodes whose paging spans (from their ALERT to their RECOVERY, or still open)
-- overlap, or start within incident_slack_minutes of the end of one, form one incident, as
-- Alertmanager groups alerts: one incident, one page. Read from the published alert events,
-- so it always agrees with monitoring.alert_events.

{%- set slack = setting('incident_slack_minutes') | int %}

with

alert_events as (

    select * from {{ ref('alert_events') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

-- Each episode that paged: when it alerted, its worst severity, and when it recovered.
paging_spans as (

    select
        alert_events.episode_id,
        alert_events.metric_name,
        min(alert_events.minute_at) filter (where alert_events.event_type = 'ALERT')
            as alerted_at,
        max(alert_events.minute_at) filter (where alert_events.event_type = 'RECOVERY')
            as recovered_at,
        max(severity_levels.severity_rank) filter (where alert_events.event_type <> 'RECOVERY')
            as peak_severity_rank

    from alert_events
    inner join severity_levels
        on alert_events.severity = severity_levels.severity
    group by alert_events.episode_id, alert_events.metric_name
    having count(*) filter (where alert_events.event_type = 'ALERT') > 0

),

-- Whether an episode opens an incident: it alerts after every earlier episode has recovered,
-- and more than the slack after the last of them did.
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
        order by alerted_at, episode_id rows between unbounded preceding and 1 preceding
    )

),

numbered as (

    select
        *,
        count(*) filter (where is_opening) over (order by alerted_at, episode_id)
            as incident_number

    from openings

),

final as (

    select
        'incident@' || {{ format_minute('(min(numbered.alerted_at) over incident)') }}
            as incident_id,
        numbered.episode_id,
        numbered.metric_name,
        numbered.alerted_at,
        numbered.recovered_at,
        severity_levels.severity as peak_severity,
        numbered.peak_severity_rank

    from numbered
    inner join severity_levels
        on numbered.peak_severity_rank = severity_levels.severity_rank
    window incident as (partition by numbered.incident_number)

)

select * from final
