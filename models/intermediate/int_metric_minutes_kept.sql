{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        contract={'enforced': true},
        on_schema_change='fail',
        indexes=[
            {'columns': ['minute_index', 'metric_name'], 'unique': True},
        ],
        pre_hook=[
            "{% if is_incremental() %}
            delete from {{ this }}
            where minute_index >= (
                select
                    case
                        when is_full_refresh or recompute_from = first_minute_at
                            then 0
                        else {{ minute_number('recompute_from') }}
                    end
                from {{ ref('int_build_window') }}
            )
            {% endif %}",
        ],
        post_hook=['{{ analyze_after_full_refresh() }}'],
    )
}}

-- Every metric's numerator and denominator for every minute of history, kept across builds: a
-- build replaces the minutes it recomputes and appends the new ones. The daily profiles
-- (int_metric_profiles_computed) read past days from here, a few ranges per metric through the
-- index, so that a cycle reads what its minutes need whatever the length of history.

with

build_window as (

    select
        *,
        is_full_refresh or recompute_from = first_minute_at as is_from_scratch

    from {{ ref('int_build_window') }}
    {%- if setting('baseline_mode') == 'prototype' %}
    where false
    {%- endif %}

),

metric_minutes as (

    select * from {{ ref('int_metric_minutes_windowed') }}

),

final as (

    select
        metric_minutes.metric_name,
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
