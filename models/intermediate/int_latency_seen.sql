{{ first_seen_config(['metric_kind']) }}

-- The first minute with a transaction that had a duration_ms: the latency metrics are judged
-- from there on, and not at all for inputs without durations (pre-aggregated counts). Kept
-- across builds like the statuses seen.

with

latency_minutes as (

    select * from {{ ref('int_latency_minutes_computed') }}

),

seen_in_this_build as (

    select
        'latency' as metric_kind,
        min(minute_at) as first_seen_at

    from latency_minutes
    where dimension_name = 'all'
    having count(*) > 0

),

{{ first_seen_kept(['metric_kind']) }}

select * from final
