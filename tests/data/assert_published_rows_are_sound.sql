{{ config(tags=['cycle']) }}

-- The check every scheduler cycle runs before it publishes, in one query over the rows the
-- running build wrote (`txmon run` runs the fine-grained tests on a longer cadence, `dbt build`
-- runs them all): each key once, no key or verdict missing, the minutes of each series
-- contiguous, severities known.

{#- A partial build (dbt build --select +fct_metric_minutes) may not have made every fact table
    yet: then this build wrote nothing here to check. -#}
{%- set facts = [
    'fct_metric_minutes', 'fct_metric_status', 'fct_alert_events', 'fct_anomaly_episodes',
] %}
{%- set missing = [] %}
{%- if execute %}
    {%- for fact in facts %}
        {%- if load_relation(ref(fact)) is none %}{% do missing.append(fact) %}{% endif %}
    {%- endfor %}
{%- endif %}

{%- if missing %}

    select
        null::text as problem,
        null::text as subject
    where false

{%- else %}

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

-- A build writes rows only from its recompute_from on, so the event-time indexes find them
-- without reading history (scalar subqueries: the bounds reach the index as parameters).
new_minutes as (

    select fct_metric_minutes.*
    from {{ ref('fct_metric_minutes') }} as fct_metric_minutes
    where
        fct_metric_minutes.build_id = (select build_window.build_id from build_window)
        and fct_metric_minutes.minute_at >= (select build_window.recompute_from from build_window)

),

new_statuses as (

    select fct_metric_status.*
    from {{ ref('fct_metric_status') }} as fct_metric_status
    where
        fct_metric_status.build_id = (select build_window.build_id from build_window)
        and fct_metric_status.minute_at >= (select build_window.recompute_from from build_window)

),

new_events as (

    select fct_alert_events.*
    from {{ ref('fct_alert_events') }} as fct_alert_events
    where
        fct_alert_events.build_id = (select build_window.build_id from build_window)
        and fct_alert_events.minute_at >= (select build_window.recompute_from from build_window)

),

new_episodes as (

    select fct_anomaly_episodes.*
    from {{ ref('fct_anomaly_episodes') }} as fct_anomaly_episodes
    where
        fct_anomaly_episodes.build_id = (select build_window.build_id from build_window)
        and fct_anomaly_episodes.last_minute_at >= (select build_window.recompute_from from build_window)

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

minute_spans as (

    select
        series_id,
        count(*) as minute_rows,
        count(distinct minute_at) as distinct_minutes,
        extract(epoch from max(minute_at) - min(minute_at)) / 60 + 1 as expected_minutes,
        count(*) filter (
            where is_anomalous is null or value is null or numerator < 0 or denominator < 0
        ) as rows_missing_a_verdict

    from new_minutes
    group by series_id

),

status_keys as (

    select
        new_statuses.series_id,
        count(*) - count(distinct new_statuses.minute_at) as duplicated_minutes,
        count(*) filter (
            where
            severity_levels.severity is null
            or new_statuses.consecutive_minutes < 0
            or new_statuses.episode_minutes < 0
            or new_statuses.is_in_episode is null
        ) as rows_out_of_range

    from new_statuses
    left join severity_levels
        on new_statuses.severity = severity_levels.severity
    group by new_statuses.series_id

),

violations as (

    select
        'metric minutes not one per minute' as problem,
        series_id as subject
    from minute_spans
    where minute_rows <> expected_minutes or distinct_minutes <> minute_rows

    union all

    select
        'metric minutes without a verdict' as problem,
        series_id as subject
    from minute_spans
    where rows_missing_a_verdict > 0

    union all

    select
        'status minutes duplicated' as problem,
        series_id as subject
    from status_keys
    where duplicated_minutes > 0

    union all

    select
        'status out of range' as problem,
        series_id as subject
    from status_keys
    where rows_out_of_range > 0

    union all

    select
        'a minute without its status' as problem,
        new_minutes.metric_minute_id as subject
    from new_minutes
    left join new_statuses
        on new_minutes.metric_minute_id = new_statuses.metric_minute_id
    where
        new_statuses.metric_minute_id is null
        -- Only when this build wrote both (not so for dbt build --select +fct_metric_minutes).
        and {{ 'true' if 'model.txmon.fct_metric_status' in selected_resources else 'false' }}

    union all

    select
        'alert event duplicated' as problem,
        alert_event_id as subject
    from new_events
    group by alert_event_id
    having count(*) > 1

    union all

    select
        'episode duplicated' as problem,
        episode_id as subject
    from new_episodes
    group by episode_id
    having count(*) > 1

)

select * from violations

{%- endif %}
