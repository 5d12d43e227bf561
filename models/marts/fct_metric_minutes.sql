{{
    config(
        indexes=[
            {'columns': ['metric_name', 'minute_at'], 'unique': True},
            {'columns': ['minute_at']},
        ],
    )
}}

-- One row per metric and minute with the baseline, threshold and verdict of the mode chosen by
-- the `baseline_mode` var. Both modes are always built so they can be compared side by side.
-- depends_on: {{ ref('int_metric_baselines_trailing') }}
-- depends_on: {{ ref('int_metric_baselines_seed') }}

{%- set mode = var('baseline_mode') %}
{%- if mode not in ['trailing', 'seed'] %}
    {{ exceptions.raise_compiler_error(
        "var baseline_mode must be 'trailing' or 'seed', got '" ~ mode ~ "'"
    ) }}
{%- endif %}

with

scored_minutes as (

    select * from {{ ref('int_metric_baselines_' ~ mode) }}

),

final as (

    select
        metric_name || '@' || {{ format_minute('minute_at') }} as metric_minute_id,
        metric_name,
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
        baseline_mode

    from scored_minutes

)

select * from final
