-- Public interface: monitoring.incidents, one row per incident (see incident_episodes): when it
-- opened, its worst severity, its members with their worst severities, and when it closed. An
-- incident closes incident_slack_minutes after its last member recovered, when no other
-- episode has joined it by then: until that minute it may still grow.

{%- set slack = setting('incident_slack_minutes') | int %}

with

incident_episodes as (

    select * from {{ ref('incident_episodes') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

incident_spans as (

    select
        incident_id,
        min(alerted_at) as opened_at,
        -- Null while a member is open.
        case when bool_and(recovered_at is not null) then max(recovered_at) end
            as last_recovered_at,
        max(peak_severity_rank) as worst_severity_rank,
        count(*)::integer as member_count,
        string_agg(
            {{ series_id('metric_name', 'dimension', 'dimension_value') }} || ' ' || peak_severity,
            ', '
            order by peak_severity_rank desc, metric_name asc, dimension asc, dimension_value asc
        ) as members

    from incident_episodes
    group by incident_id

),

final as (

    select
        incident_spans.incident_id,
        incident_spans.opened_at,
        incident_spans.last_recovered_at,
        case
            when
                incident_spans.last_recovered_at + interval '{{ slack }} minutes'
                <= {{ published_minute() }}
                then incident_spans.last_recovered_at + interval '{{ slack }} minutes'
        end as closed_at,
        incident_spans.last_recovered_at is null
        or incident_spans.last_recovered_at + interval '{{ slack }} minutes'
        > {{ published_minute() }} as is_open,
        severity_levels.severity as worst_severity,
        incident_spans.worst_severity_rank,
        incident_spans.member_count,
        incident_spans.members

    from incident_spans
    inner join severity_levels
        on incident_spans.worst_severity_rank = severity_levels.severity_rank

)

select * from final
