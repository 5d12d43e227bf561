{#-
    The configuration every table behind a public view shares: an append-only table of versioned
    rows (see build_state.sql), never dropped or swapped by dbt, also not by --full-refresh
    (a full refresh recomputes every row as new versions instead), and analysed after a build
    that wrote much of it so later reads never run on stale statistics. Columns are not compared
    on every build (that costs each cycle catalog queries); a table from an older layout is
    rebuilt once by txmon_begin_build.
-#}
{% macro versioned_table_config(indexes) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        indexes=indexes,
        post_hook=[
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
