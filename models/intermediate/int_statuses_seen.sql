{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='status',
        full_refresh=false,
        contract={'enforced': true},
        on_schema_change='fail',
    )
}}

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
    where transaction_count > 0
    group by status

),

seen_before as (

    {%- if is_incremental() %}
        select * from {{ this }}
    {%- else %}
        select
            null::text as status,
            null::timestamptz as first_seen_at
        where false
    {%- endif %}

),

final as (

    select
        coalesce(seen_in_this_build.status, seen_before.status) as status,
        least(seen_in_this_build.first_seen_at, seen_before.first_seen_at) as first_seen_at

    from seen_in_this_build
    full outer join seen_before
        on seen_in_this_build.status = seen_before.status

)

select * from final
