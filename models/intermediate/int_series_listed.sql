{{ config(materialized='view') }}

-- The series judged: every metric (int_metric_definitions_completed) for all transactions but
-- the share (of all transactions, always 1), and for each series value of each monitored
-- dimension (int_dimension_values_ranked) the metrics of the kinds the dimension asks for, from
-- the later of the minute the metric is first judged and the minute the value was first seen.
-- The series of all transactions exist once the inputs have had a status.

with

metric_definitions as (

    select * from {{ ref('int_metric_definitions_completed') }}

),

dimension_values as (

    select * from {{ ref('int_dimension_values_ranked') }}

),

statuses_seen as (

    select * from {{ ref('int_statuses_seen') }}

),

series_values as (

    select
        'all' as dimension_name,
        'all' as dimension_value,
        null::timestamptz as first_seen_at,
        'rate|volume|latency' as metric_kinds,
        0 as min_window_transactions
    -- Only once counts by status or transactions have arrived: counts by a dimension's value
    -- alone (an auth-code file) do not make a series of all transactions.
    where exists (select from statuses_seen)

    union all

    select
        dimension_name,
        series_value as dimension_value,
        min(first_seen_at) as first_seen_at,
        min(metric_kinds) as metric_kinds,
        min(min_window_transactions) as min_window_transactions

    from dimension_values
    group by dimension_name, series_value

),

final as (

    select
        {{ series_id(
            'metric_definitions.metric_name',
            'series_values.dimension_name',
            'series_values.dimension_value'
        ) }} as series_id,
        metric_definitions.metric_name,
        series_values.dimension_name,
        series_values.dimension_value,
        metric_definitions.metric_kind,
        metric_definitions.direction,
        metric_definitions.min_sigma,
        metric_definitions.half_life_minutes,
        greatest(metric_definitions.first_judged_at, series_values.first_seen_at)
            as first_judged_at,
        series_values.min_window_transactions

    from metric_definitions
    inner join series_values
        on
            metric_definitions.metric_kind
            = any(string_to_array(series_values.metric_kinds, '|'))

)

select * from final
