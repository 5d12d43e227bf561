{#-
    The latency metrics and the quantile of the minute's durations each is: the one definition
    the models read; the metric_definitions seed describes them (kind `latency`).
-#}
{% macro latency_quantiles() -%}
    {{ return({'latency_p50_ms': 0.5, 'latency_p95_ms': 0.95}) }}
{%- endmacro %}
