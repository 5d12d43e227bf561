{#-
    The tables that outlive a build (the incremental models: the versioned tables behind the
    public views and the trailing baseline's state) follow their models across upgrades: before
    a build, txmon_begin_build brings a table stored with an older layout up to date, so the next
    build neither fails nor shows readers a missing or empty view.

    - A renamed column (renamed_columns) is renamed in place, with its rows; a view over it keeps
      working until the build replaces the view.
    - Any other difference between a table and its model's enforced contract (a column added,
      dropped, moved or retyped) ends the table's old layout. A versioned table is renamed to
      <name>__previous_layout, which the public views keep reading until the build replaces
      them, and created again with the contract's columns and the model's indexes, holding a
      copy of the published rows; the build's publication drops the previous layout (until then
      a later build starts again from it, so a contract fixed after a failed build recovers). The
      trailing baseline's state, only read by builds, is created again empty. Either way the
      build recomputes all history.
    - stored_layout_version() is part of the fingerprint of the results (int_build_window):
      bump it when the stored rows change meaning, and the next build recomputes all history.
-#}

{#- 2: the alert events' episode_minutes, the prototype's baseline_mode, bigint totals.
    3: episode_minutes counts the minutes the anomaly lasted; outages; profiles.
    4: profiles compare past days by shape, each relative to its own level.
    5: series keyed by metric, dimension and value (series_id). -#}
{% macro stored_layout_version() -%}
    {{ return(5) }}
{%- endmacro %}


{#- Columns renamed since an earlier release: table (in txmon's internal schema), old, new name. -#}
{% macro renamed_columns() -%}
    {{ return([
        {
            'table': 'severity_levels',
            'old': 'min_consecutive_minutes',
            'new': 'min_episode_minutes',
        },
        {'table': 'fct_alert_events', 'old': 'consecutive_minutes', 'new': 'episode_minutes'},
    ]) }}
{%- endmacro %}


{#- The models whose tables outlive a build; each must have an enforced contract. -#}
{% macro stored_models() -%}
    {%- set models = [] -%}
    {%- if not execute -%}
        {#- The graph is only known when the hook runs, not while the project is parsed. -#}
        {{ return(models) }}
    {%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model'
        and node.package_name == project_name
        and node.config.materialized == 'incremental' -%}
        {%- if not node.contract.enforced -%}
            {{ exceptions.raise_compiler_error(
                "incremental model " ~ node.name ~ " needs an enforced contract: txmon compares"
                ~ " the stored table with it before each build"
            ) }}
        {%- endif -%}
        {%- do models.append(node) -%}
    {%- endfor -%}
    {{ return(models) }}
{%- endmacro %}


{#- SQL for on-run-start: apply renamed_columns() where the old name is still stored. -#}
{% macro rename_stored_columns() %}
    {%- for rename in renamed_columns() %}
    do $$
    declare
        stored regclass := to_regclass('{{ internal_schema() }}.{{ rename.table }}');
    begin
        if exists (
            select 1 from pg_attribute
            where attrelid = stored and attname = '{{ rename.old }}' and not attisdropped
        ) and not exists (
            select 1 from pg_attribute
            where attrelid = stored and attname = '{{ rename.new }}' and not attisdropped
        ) then
            alter table {{ internal_schema() }}.{{ rename.table }}
                rename column {{ rename.old }} to {{ rename.new }};
        end if;
    end
    $$;
    {%- endfor %}
{% endmacro %}


{#- SQL for on-run-start: bring each stored table that differs from its contract up to date. -#}
{% macro update_stored_layouts() %}
    {%- for node in stored_models() %}
        {%- set relation = api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias
        ) %}
        {%- set table = node.schema ~ '.' ~ node.alias %}
        {%- set previous = table ~ '__previous_layout' %}
    do $$
    declare
        stored regclass := to_regclass('{{ table }}');
        copied_columns text;
        copied_values text;
    begin
        if stored is null or (
            select
                array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum)
            from pg_attribute
            where attrelid = stored and attnum > 0 and not attisdropped
        ) = array[
            {%- for column in node.columns.values() %}
            '{{ column.name }} ' || '{{ column.data_type }}'::regtype::text
            {{- ',' if not loop.last }}
            {%- endfor %}
        ]::text[] then
            return;
        end if;
        raise notice 'txmon: % has an older layout: rebuilding it', '{{ table }}';
        -- The published results are no longer those the stored rows would give: recompute all.
        update {{ internal_schema() }}.publication set fingerprint = 'stored layout changed';
        {%- if node.name in versioned_models() %}
        if to_regclass('{{ previous }}') is null then
            alter table {{ table }} rename to {{ node.alias }}__previous_layout;
        else
            -- An upgrade no build has finished yet: the previous layout still holds what readers
            -- see, and the table made from it holds nothing the coming full refresh needs.
            drop table {{ table }};
        end if;
        {%- else %}
        drop table {{ table }};
        {%- endif %}
        -- Created here rather than left to dbt, which has already listed the tables it finds.
        create table {{ table }}
        {%- for column in adapter.render_raw_columns_constraints(raw_columns=node.columns) %}
            {{ '(' if loop.first else ',' }} {{ column }}
        {%- endfor %}
        );
        {%- for index in node.config.indexes %}
        {{ get_create_index_sql(relation, index) }};
        {%- endfor %}
        {%- if node.name in versioned_models() %}
        -- Keep what readers see: the published rows, in the columns both layouts have, cast to
        -- their new types. A table from before builds were versioned has none to keep.
        select
            string_agg(quote_ident(current_column.attname), ', ' order by current_column.attnum),
            string_agg(
                quote_ident(current_column.attname) || '::'
                || format_type(current_column.atttypid, current_column.atttypmod),
                ', ' order by current_column.attnum
            )
        into copied_columns, copied_values
        from pg_attribute as current_column
        inner join pg_attribute as previous_column
            on current_column.attname = previous_column.attname
        where
            current_column.attrelid = '{{ table }}'::regclass
            and current_column.attnum > 0 and not current_column.attisdropped
            and previous_column.attrelid = '{{ previous }}'::regclass
            and previous_column.attnum > 0 and not previous_column.attisdropped;
        if exists (
            select 1 from pg_attribute
            where
                attrelid = '{{ previous }}'::regclass and attname = 'build_id' and not attisdropped
        ) then
            begin
                execute format(
                    'insert into {{ table }} (%s) select %s from {{ previous }}'
                    ' where build_id <= %s',
                    copied_columns,
                    copied_values,
                    {{ published_build_id() }}
                );
            exception when others then
                -- Values the new types cannot hold: the views read the previous layout until
                -- the build replaces them, and show its results once it publishes.
                raise notice 'txmon: % keeps no published rows: %', '{{ table }}', sqlerrm;
            end;
        end if;
        {%- endif %}
    end
    $$;
    {%- endfor %}
{% endmacro %}


{#-
    SQL for on-run-end, after a publication, and on-run-start: drop the previous layouts that no
    view reads any more (their published rows were copied when they were replaced).
-#}
{% macro drop_previous_layouts() %}
    do $$
    declare
        previous regclass;
    begin
        for previous in
            select stored.oid::regclass
            from pg_class as stored
            inner join pg_namespace as stored_schema on stored.relnamespace = stored_schema.oid
            where
                stored_schema.nspname = '{{ internal_schema() }}'
                and stored.relkind = 'r'
                and stored.relname like '%\_\_previous\_layout'
        loop
            begin
                execute format('drop table %s', previous);
            exception when dependent_objects_still_exist then
                -- A public view this build did not replace (a partial build) still reads it.
                raise notice 'txmon: % is still read by a view; a later build drops it', previous;
            end;
        end loop;
    end
    $$;
{% endmacro %}
