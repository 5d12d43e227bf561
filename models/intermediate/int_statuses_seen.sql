{{ first_seen_config(['status']) }}

-- Every status the inputs have had a transaction in, and the first minute it was seen. Each
-- build adds the statuses of the minutes it reads; a status seen earlier keeps its first minute
-- unless late data show an earlier one. Kept across builds (a full refresh too): a status that
-- only older, pruned data had keeps its rate.

with

status_counts as (

    select * from {{ ref('int_status_counts_unioned') }}

),

seen_in_this_build as (

    select
        status,
        min(minute_at) as first_seen_at

    from status_counts
    where dimension_name = 'all' and transaction_count > 0
    group by status

),

{{ first_seen_kept(['status']) }}

select * from final
