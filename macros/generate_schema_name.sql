{#-
    Use a model's custom schema name as it is (`monitoring`, `txmon`) instead of dbt's default of
    prefixing it with the target schema, so that users query `monitoring.current_status` whatever
    profile built it.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
