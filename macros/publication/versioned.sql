{#-
    The configuration every table behind a public view shares: an append-only table of versioned
    rows (see build_state.sql), never dropped or swapped by dbt, also not by --full-refresh
    (a full refresh recomputes every row as new versions instead), and analysed after a build
    that wrote much of it so later reads never run on stale statistics. Its columns are an
    enforced contract: dbt checks the model's query against it on every build, txmon_begin_build
    brings a table stored with an older layout up to date (stored_layout.sql), and a table that
    still differs fails the build (on_schema_change) instead of taking rows it cannot hold.
-#}
{% macro versioned_table_config(indexes) -%}
    {{ stored_table_config(indexes) }}
{%- endmacro %}


{#- What every table that outlives a build shares (versioned here, kept in kept_tables.sql). -#}
{% macro stored_table_config(indexes, pre_hook=[], post_hook=[]) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        contract={'enforced': true},
        on_schema_change='fail',
        indexes=indexes,
        pre_hook=pre_hook,
        post_hook=post_hook + [
            "{{ analyze_after_full_refresh() }}",
        ],
    ) }}
{%- endmacro %}


{#- ANALYZE a table after a build that rewrote all of it; small increments leave it to autovacuum. -#}
{% macro analyze_after_full_refresh() -%}
    do $$
    begin
        if (select is_full_refresh from {{ ref('int_build_window') }}) then
            analyze {{ this }};
        end if;
    end
    $$
{%- endmacro %}
