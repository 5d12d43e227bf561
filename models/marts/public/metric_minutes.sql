-- Public interface: monitoring.metric_minutes. Users and dashboards query this view by name.
-- It shows what the last successful build published (see build_state.sql).

with

fct_metric_minutes as (

    select * from {{ ref('fct_metric_minutes') }}

),

final as (

    select
        fct_metric_minutes.metric_minute_id,
        fct_metric_minutes.metric_name,
        fct_metric_minutes.dimension_name as dimension,
        fct_metric_minutes.dimension_value,
        fct_metric_minutes.minute_at,
        fct_metric_minutes.minute_index,
        fct_metric_minutes.metric_kind,
        fct_metric_minutes.direction,
        fct_metric_minutes.total_transactions,
        fct_metric_minutes.numerator,
        fct_metric_minutes.denominator,
        fct_metric_minutes.value,
        fct_metric_minutes.has_data,
        fct_metric_minutes.has_window_data,
        fct_metric_minutes.window_minutes,
        fct_metric_minutes.window_numerator,
        fct_metric_minutes.window_denominator,
        fct_metric_minutes.judged_value,
        fct_metric_minutes.baseline,
        fct_metric_minutes.sigma,
        fct_metric_minutes.threshold,
        fct_metric_minutes.z_score,
        fct_metric_minutes.is_warm,
        fct_metric_minutes.is_anomalous,
        fct_metric_minutes.is_outlier,
        fct_metric_minutes.baseline_mode

    from fct_metric_minutes
    where {{ is_published('fct_metric_minutes') }}

)

select * from final
