{{ config(materialized='view') }}

-- The metrics judged: every metric of the metric_definitions seed, and a rate for every status
-- seen in the data that none of them counts (status_rate_metric_name), judged for rises from
-- the first minute the status was seen, so that a new status neither goes unwatched nor starts
-- with a history of zeros it never had.

with

metric_definitions as (

    select * from {{ ref('metric_definitions') }}

),

statuses_seen as (

    select * from {{ ref('int_statuses_seen') }}

),

latency_seen as (

    select * from {{ ref('int_latency_seen') }}

),

listed_statuses as (

    select distinct trim(numerator_status) as status

    from metric_definitions
    cross join lateral unnest(string_to_array(numerator_statuses, '|')) as numerator_status
    where metric_kind = 'rate'

),

listed_metrics as (

    select
        metric_definitions.metric_name,
        metric_definitions.short_name,
        metric_definitions.metric_kind,
        metric_definitions.numerator_statuses,
        metric_definitions.direction,
        metric_definitions.min_sigma,
        metric_definitions.half_life_minutes,
        metric_definitions.description,
        latency_seen.first_seen_at as first_judged_at,
        true as is_listed

    from metric_definitions
    -- A latency metric only once a transaction has had a duration.
    left join latency_seen
        on metric_definitions.metric_kind = latency_seen.metric_kind
    where metric_definitions.metric_kind <> 'latency' or latency_seen.first_seen_at is not null

),

status_rates as (

    select
        {{ status_rate_metric_name('statuses_seen.status') }} as metric_name,
        statuses_seen.status as short_name,
        'rate' as metric_kind,
        statuses_seen.status as numerator_statuses,
        'above' as direction,
        0.001::float8 as min_sigma,
        60::float8 as half_life_minutes,
        'Share of the minute''s transactions with status ' || statuses_seen.status
        || ' (watched because it appeared in the data)' as description,
        statuses_seen.first_seen_at as first_judged_at,
        false as is_listed

    from statuses_seen
    where
        statuses_seen.status not in (select listed_statuses.status from listed_statuses)
        and {{ status_rate_metric_name('statuses_seen.status') }}
        not in (select listed_metrics.metric_name from listed_metrics)

),

final as (

    select * from listed_metrics
    union all
    select * from status_rates

)

select * from final
