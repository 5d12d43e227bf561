{{
    versioned_table_config(indexes=[
        {'columns': ['series_id', 'minute_at', 'build_id'], 'unique': True},
        {'columns': ['minute_at']},
    ])
}}

-- One row per series and minute with the baseline, threshold and verdict of the mode chosen by
-- the `baseline_mode` var, one version per build that recomputed the minute (see
-- build_state.sql): this build appends the minutes it recomputed.
-- depends_on: {{ ref('int_metric_baselines_trailing') }}
-- depends_on: {{ ref('int_metric_baselines_prototype') }}

{%- set mode = setting('baseline_mode') %}
{%- if mode not in ['trailing', 'prototype'] %}
    {{ exceptions.raise_compiler_error(
        "var baseline_mode must be 'trailing' or 'prototype', got '" ~ mode ~ "'"
    ) }}
{%- endif %}

with

build_window as (

    select * from {{ ref('int_build_window') }}

),

scored_minutes as (

    select scored_minutes.*
    from {{ ref('int_metric_baselines_' ~ mode) }} as scored_minutes
    inner join build_window
        on scored_minutes.minute_at >= build_window.recompute_from

),

final as (

    select
        series_id || '@' || {{ format_minute('minute_at') }} as metric_minute_id,
        series_id,
        metric_name,
        dimension_name,
        dimension_value,
        minute_at,
        minute_index,
        metric_kind,
        direction,
        total_transactions,
        numerator,
        denominator,
        value,
        has_data,
        has_window_data,
        window_minutes,
        window_numerator,
        window_denominator,
        judged_value,
        baseline,
        sigma,
        threshold,
        z_score,
        is_warm,
        is_anomalous,
        is_outlier,
        is_deviant,
        deviant_streak,
        is_outage,
        is_sla_breach,
        profile_value,
        baseline_mode,
        (select build_window.build_id from build_window) as build_id

    from scored_minutes

)

select * from final
