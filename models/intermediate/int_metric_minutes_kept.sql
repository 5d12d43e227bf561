{{
    kept_table_config(indexes=[
        {'columns': ['minute_index', 'series_id'], 'unique': True},
    ], recomputed_column='minute_index')
}}

-- Every series' numerator and denominator for every minute of history, kept across builds: a
-- build replaces the minutes it recomputes and appends the new ones. The daily profiles
-- (int_metric_profiles_computed) read past days from here, a few ranges per metric through the
-- index, so that a cycle reads what its minutes need whatever the length of history.

with

build_window as (

    select * from {{ ref('int_build_window') }}
    {{- only_in_trailing_mode() }}

),

metric_minutes as (

    select * from {{ ref('int_metric_minutes_windowed') }}

),

final as (

    select
        metric_minutes.series_id,
        metric_minutes.minute_at,
        metric_minutes.minute_index,
        metric_minutes.numerator,
        metric_minutes.denominator

    from metric_minutes
    inner join build_window
        on
            build_window.is_from_scratch
            or metric_minutes.minute_at >= build_window.recompute_from

)

select * from final
