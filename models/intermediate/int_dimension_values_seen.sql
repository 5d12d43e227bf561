{{ first_seen_config(['dimension_name', 'dimension_value']) }}

-- Every value of a monitored dimension the transactions have had, and the first minute it was
-- seen. Kept across builds like the statuses seen, so that which values are monitored one by
-- one (the first max_values of each dimension, int_series_listed) does not change when old
-- data are pruned.

with

status_counts as (

    select * from {{ ref('int_status_counts_unioned') }}

),

seen_in_this_build as (

    select
        dimension_name,
        dimension_value,
        min(minute_at) as first_seen_at

    from status_counts
    where dimension_name <> 'all' and transaction_count > 0
    group by dimension_name, dimension_value

),

{{ first_seen_kept(['dimension_name', 'dimension_value']) }}

select * from final
