{{
    kept_table_config(indexes=[
        {'columns': ['metric_name', 'day_index'], 'unique': True},
    ], recomputed_column='day_index')
}}

-- Every metric's numerator and denominator per UTC day, kept across builds: a build recomputes
-- the days from the one its first recomputed minute is in. The daily profiles compare past
-- days by their shape, each day taken relative to its own level, so that a day whose traffic
-- is lower all day long (a weekend, a holiday) does not pull the profile down.

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
        kept_minutes.metric_name,
        kept_minutes.minute_index / 1440 as day_index,
        kept_minutes.numerator,
        kept_minutes.denominator

    from build_window
    inner join kept_minutes
        on
            build_window.is_from_scratch
            or kept_minutes.minute_index >= {{ minute_number('build_window.recompute_from') }}
            / 1440 * 1440

),

final as (

    select
        metric_name,
        day_index,
        sum(numerator)::bigint as numerator,
        sum(denominator)::bigint as denominator

    from recomputed_minutes
    group by metric_name, day_index

)

select * from final
