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
    ) }}
{%- endmacro %}


{#-
    Deletes the rows a build recomputes: those from recompute_from on, in the unit of `column`
    (minute_at a timestamp, minute_index minutes and day_index days since 1970-01-01 UTC), or
    every row when the build starts from scratch. The bound is one scalar, so the delete reads
    the recent rows through the index.
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
    delete from {{ this }}
    where {{ column }} >= (
        select case when is_from_scratch then {{ everything }} else {{ bound }} end
        from {{ ref('int_build_window') }}
    )
    {%- endif %}
{%- endmacro %}

