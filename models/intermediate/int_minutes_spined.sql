{{ config(post_hook=['analyze {{ this }}']) }}

-- Every minute the build recomputes, from the evaluation window's lookback to the newest minute
-- with data: a minute without transactions is a row here too, so that an outage shows up as
-- zeros instead of a hole. minute_index numbers minutes since 1970-01-01 UTC, so consecutive
-- minutes have consecutive numbers whichever build computed them.

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

spine as (

    select minute_at
    from build_window
    cross join
        lateral generate_series(
            lookback_from, newest_minute_at, interval '1 minute'
        ) as minute_at

),

final as (

    select
        minute_at,
        {{ minute_number('minute_at') }} as minute_index

    from spine

)

select * from final
