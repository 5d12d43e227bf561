{#-
    The rate txmon watches on its own for a status that no metric of the metric_definitions seed
    counts: `<status>_rate` (the status in lowercase letters, digits and underscores), with the
    status as its short name. One rule for the models that name such rates and for the public
    view that shows their short names.
-#}
{% macro status_rate_metric_name(status) -%}
    regexp_replace({{ status }}, '[^a-z0-9]+', '_', 'g') || '_rate'
{%- endmacro %}

{% macro status_rate_short_name(metric_name) -%}
    regexp_replace({{ metric_name }}, '_rate$', '')
{%- endmacro %}
