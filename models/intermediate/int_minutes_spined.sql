-- Every minute from the first to the last minute with data: a minute without transactions is a
-- row here too, so that an outage shows up as zeros instead of a hole.

with

status_counts as (

    select * from {{ ref('int_status_counts_unioned') }}

),

bounds as (

    select
        min(minute_at) as first_minute_at,
        max(minute_at) as last_minute_at

    from status_counts

),

spine as (

    select minute_at
    from bounds
    cross join
        lateral generate_series(
            first_minute_at, last_minute_at, interval '1 minute'
        ) as minute_at

),

final as (

    select
        minute_at,
        (row_number() over (order by minute_at) - 1)::integer as minute_index

    from spine

)

select * from final
