{{
    kept_table_config(indexes=[
        {'columns': ['series_id', 'day_index'], 'unique': True},
    ], recomputed_column='day_index')
}}

-- Every series' numerator and denominator per complete UTC day, kept across builds: a build
-- recomputes the complete days from the one its first recomputed minute is in. A profile reads
-- the levels of past days only, so the day still under way is summed once it is over, not in
-- every cycle (with many series, summing it every minute cost more than the cycle's minutes).
-- The daily profiles compare past days by their shape, each day taken relative to its own
-- level, so that a day whose traffic is lower all day long (a weekend, a holiday) does not
-- pull the profile down.

with

build_window as (

    select * from {{ ref('int_build_window') }}
    {{- only_in_trailing_mode() }}

),

kept_minutes as (

    select * from {{ ref('int_metric_minutes_kept') }}

),

recomputed_minutes as (

    select
        kept_minutes.series_id,
        kept_minutes.minute_index / 1440 as day_index,
        kept_minutes.numerator,
        kept_minutes.denominator

    from kept_minutes
    -- Scalar bounds, not a join with an OR, so that a cycle reads its days through the index.
    -- Complete days only: up to the day before the one the newest minute is in, or that day
    -- too when the newest minute is its last.
    where
        kept_minutes.minute_index >= (
            select
                case
                    when build_window.is_from_scratch then 0
                    else {{ minute_number('build_window.recompute_from') }} / 1440 * 1440
                end
            from build_window
        )
        and kept_minutes.minute_index < (
            select ({{ minute_number('build_window.newest_minute_at') }} + 1) / 1440 * 1440
            from build_window
        )

),

final as (

    select
        series_id,
        day_index,
        sum(numerator)::bigint as numerator,
        sum(denominator)::bigint as denominator

    from recomputed_minutes
    group by series_id, day_index

)

select * from final
