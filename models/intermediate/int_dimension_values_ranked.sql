{{ config(materialized='view') }}

-- Each value of a monitored dimension seen so far and the series it counts in: its own while it
-- is among the first max_values values of its dimension to be seen, `other` after that. The
-- order of first sight, not of volume, decides: it never changes as traffic shifts, so a
-- series never jumps between a value and `other`.

with

monitored_dimensions as (

    select * from {{ ref('monitored_dimensions') }}

),

dimension_values_seen as (

    select * from {{ ref('int_dimension_values_seen') }}

),

ranked as (

    select
        dimension_values_seen.dimension_name,
        dimension_values_seen.dimension_value,
        dimension_values_seen.first_seen_at,
        monitored_dimensions.max_values,
        monitored_dimensions.metric_kinds,
        monitored_dimensions.min_window_transactions,
        row_number() over (
            partition by dimension_values_seen.dimension_name
            order by
                dimension_values_seen.first_seen_at asc,
                dimension_values_seen.dimension_value asc
        ) as value_rank

    from dimension_values_seen
    inner join monitored_dimensions
        on dimension_values_seen.dimension_name = monitored_dimensions.dimension_name

),

final as (

    select
        dimension_name,
        dimension_value,
        case
            when value_rank <= max_values then dimension_value else 'other'
        end as series_value,
        first_seen_at,
        metric_kinds,
        min_window_transactions

    from ranked

)

select * from final
