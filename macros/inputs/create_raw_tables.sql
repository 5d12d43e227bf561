{#-
    on-run-start: create or update txmon's own raw tables (raw_tables_ddl.sql) when an input reads
    them, so that `dbt build` works on an empty database, and move rows that writers left in the
    default partitions into day partitions. txmon's Python writers do the same before a load
    (txmon/ingest/raw_tables.py), by the same schema comment and lock.

    Usually one catalog query: the DDL runs only when the schema's comment does not carry the
    md5 of this version's DDL. A schema that holds tables but not txmon's mark in its comment is
    not txmon's (`raw_schema` pointing at tables of yours): it is read as it is, never altered.
-#}
{% macro txmon_create_raw_tables() %}
    {%- if not execute or not reads_txmon_raw_tables() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set schema = var('raw_schema') -%}
    {%- set ddl = raw_tables_ddl(schema) -%}
    {%- set marker = raw_tables_mark() ~ ', ddl md5 ' ~ local_md5(ddl) -%}
    {%- set found = run_query(
        "select coalesce(obj_description(n.oid, 'pg_namespace'), ''),"
        ~ " exists (select from pg_class c where c.relnamespace = n.oid)"
        ~ " from pg_namespace n where n.nspname = " ~ dbt.string_literal(schema)
    ).rows -%}
    {%- set comment = found[0][0] if found else '' -%}
    {%- if found and found[0][1] and not comment.startswith(raw_tables_mark()) -%}
        {{ return('') }}
    {%- endif -%}
    {%- if comment != marker %}
    -- Two processes creating the tables at once would collide: one at a time.
    select pg_advisory_xact_lock(hashtext('{{ raw_tables_lock() }}'));
    {{ ddl }}
    comment on schema {{ schema }} is {{ dbt.string_literal(marker) }};
    {%- endif %}
    select {{ schema }}.partition_pending_rows();
    commit;
{% endmacro %}
