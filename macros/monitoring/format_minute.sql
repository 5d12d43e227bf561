{#-
    A minute as ISO text in UTC, e.g. 2025-07-15T13:44Z; used to build readable, stable ids
    (episode ids, dedup keys) that do not change when the data grow.
-#}
{% macro format_minute(column) -%}
    to_char({{ column }} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')
{%- endmacro %}
