{#-
    The configuration of a model that keeps its rows across builds for later builds to read (the
    trailing baseline's state, the minutes and days the daily profiles read): stored like the
    versioned tables (stored_table_config), except that each build first deletes the rows it
    recomputes (delete_recomputed_rows) instead of adding versions.
    `recomputed_column` names the column that orders its rows in time.
-#}
{% macro kept_table_config(indexes, recomputed_column) -%}
    {{ stored_table_config(
        indexes,
        pre_hook=["{{ delete_recomputed_rows('" ~ recomputed_column ~ "') }}"],
        post_hook=["{{ index_recomputed_column('" ~ recomputed_column ~ "') }}"],
    ) }}
{%- endmacro %}


{#-
    Deletes the rows a build recomputes: those from recompute_from on, in the unit of `column`
    (minute_at a timestamp, minute_index minutes and day_index days since 1970-01-01 UTC), or
    every row when the build starts from scratch. The bound is put in the statement as a value:
    planned against a subquery, whose value the planner cannot know, the delete expected a third
    of the table and read all of it each cycle; with the value it reads the recent rows through
    the index on the column (index_recomputed_column).
-#}
{% macro delete_recomputed_rows(column) -%}
    {%- set bounds = {
        'minute_at': ('recompute_from', "'-infinity'::timestamptz"),
        'minute_index': (minute_number('recompute_from'), '0'),
        'day_index': (minute_number('recompute_from') ~ ' / 1440', '0'),
    } -%}
    {%- if column not in bounds -%}
        {{ exceptions.raise_compiler_error("delete_recomputed_rows: no unit for " ~ column) }}
    {%- endif -%}
    {%- set bound, everything = bounds[column] -%}
    {%- if is_incremental() %}
    do $$
    begin
        execute format(
            'delete from {{ this }} where {{ column }} >= %L',
            (
                select case when is_from_scratch then {{ everything }} else {{ bound }} end
                from {{ ref('int_build_window') }}
            )
        );
    end
    $$
    {%- endif %}
{%- endmacro %}


{#-
    Creates an index led by `column` on a kept table that has none, for the delete above and
    the reads of a build's newest rows; a table kept from an earlier layout gets it too.
-#}
{% macro index_recomputed_column(column) -%}
    do $$
    begin
        if not exists (
            select
            from pg_index
            inner join pg_attribute
                on
                    pg_index.indrelid = pg_attribute.attrelid
                    and pg_index.indkey[0] = pg_attribute.attnum
            where
                pg_index.indrelid = '{{ this }}'::regclass
                and pg_attribute.attname = '{{ column }}'
        ) then
            create index on {{ this }} ({{ column }});
        end if;
    end
    $$
{%- endmacro %}



{#-
    The configuration of a model that keeps the first minute each key was seen (first_seen_kept):
    one row per key, replaced when a build sees it, never dropped, not even by a full refresh.
-#}
{% macro first_seen_config(keys) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=keys,
        full_refresh=false,
        contract={'enforced': true},
        on_schema_change='fail',
    ) }}
{%- endmacro %}


{#-
    The last CTEs of a model that keeps the first minute each key was seen, across builds and
    full refreshes: `seen_in_this_build` (the keys and the first_seen_at of the minutes this
    build reads) merged with the rows kept so far. A key keeps its first minute unless late data
    show an earlier one, and a key only pruned data had stays. `keys` are text columns.
-#}
{% macro first_seen_kept(keys) -%}
seen_before as (

    {%- if is_incremental() %}
        select * from {{ this }}
    {%- else %}
        select
            {%- for key in keys %}
                null::text as {{ key }},
            {%- endfor %}
            null::timestamptz as first_seen_at
        where false
    {%- endif %}

),

final as (

    select
        {%- for key in keys %}
            coalesce(seen_in_this_build.{{ key }}, seen_before.{{ key }}) as {{ key }},
        {%- endfor %}
        least(seen_in_this_build.first_seen_at, seen_before.first_seen_at) as first_seen_at

    from seen_in_this_build
    full outer join seen_before
        on
            {%- for key in keys %}
                {{ "and " if not loop.first }}seen_in_this_build.{{ key }} = seen_before.{{ key }}
            {%- endfor %}

)
{%- endmacro %}
