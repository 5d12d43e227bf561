{#-
    Where each node lands. Nodes without a schema of their own (txmon's internal tables, the
    seeds) go to the target's schema. The public views' schema (the var public_schema, default
    `monitoring`) is used as configured on the `prod` target and prefixed with the target's
    schema on any other, as dbt does by default (`txmon_dev_monitoring`), so a dev build never
    touches what prod's readers query, even in the same database.

    The name must stay as written in PostgreSQL (txmon's readers and the reader role name it
    unquoted): lower-case letters, digits and _, at most 63 characters; and it must not be the
    internal or the raw schema (txmon.core.facts.check_public_schema says the same).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set configured = (custom_schema_name or '') | trim -%}
    {%- if not configured -%}
        {%- set schema = target.schema -%}
    {%- elif target.name == 'prod' -%}
        {%- set schema = configured -%}
    {%- else -%}
        {%- set schema = target.schema ~ '_' ~ configured -%}
    {%- endif -%}
    {%- if configured and not modules.re.fullmatch('[a-z_][a-z0-9_]{0,62}', schema) -%}
        {{ exceptions.raise_compiler_error(
            "schema name '" ~ schema ~ "' (target " ~ target.name ~ "): use lower-case letters,"
            ~ " digits and _, at most 63 characters"
        ) }}
    {%- elif configured and schema in [target.schema, var('raw_schema', 'txmon_raw')] -%}
        {#- The reader role may read all of the public schema: never the internal or raw one. -#}
        {{ exceptions.raise_compiler_error(
            "schema name '" ~ schema ~ "' is the internal or the raw schema: choose another"
        ) }}
    {%- endif -%}
    {{ schema }}
{%- endmacro %}
