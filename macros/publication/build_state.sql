{#-
    How a build publishes its results atomically.

    The tables behind the public views (the `versioned_models` below) keep every row with the
    build that wrote it (`build_id`). A build appends new versions of the minutes, events and
    episodes it recomputes; readers see only rows with build_id <= the published build
    (`txmon.publication`), so a running or failed build is invisible to them. When every node of
    the build has passed, `txmon_publish` deletes the versions the build superseded and moves the
    published build forward, in one transaction: readers go from the old results to the new
    ones in one step and never see a table missing, empty or half-updated.
-#}

{% macro versioned_models() -%}
    {{ return(['fct_metric_minutes', 'fct_metric_status', 'fct_alert_events', 'fct_anomaly_episodes']) }}
{%- endmacro %}


{#- The schema of txmon's internal tables (build state, intermediate and fact models): the
    target's own (`txmon` on prod), where every node without a schema of its own lands. -#}
{% macro internal_schema() -%}
    {{ return(generate_schema_name(none, none) | trim) }}
{%- endmacro %}


{#- The build running now: the newest one registered (builds are serialised by a lock). -#}
{% macro current_build_id() -%}
    (select max(build_id) from {{ internal_schema() }}.build_log)
{%- endmacro %}


{#- The build whose results readers see; 0 before the first publication. -#}
{% macro published_build_id() -%}
    (select coalesce(max(published_build_id), 0) from {{ internal_schema() }}.publication)
{%- endmacro %}


{#-
    The newest minute readers see (null before the first publication). A scalar, not a join:
    the planner then reads that one minute of a fact table through its index, where a join to
    the publication table was planned for hundreds of rows and read every stored minute.
-#}
{% macro published_minute() -%}
    (select max(published_through) from {{ internal_schema() }}.publication)
{%- endmacro %}


{#- Whether this dbt command builds models (and so registers and publishes a build). -#}
{% macro is_building() -%}
    {{ return(flags.WHICH in ['build', 'run']) }}
{%- endmacro %}


{#-
    on-run-start: warn about deprecated settings, create the build state tables, apply column
    renames from earlier releases, and for a build: take the build lock, bring stored tables of an
    older layout up to date (stored_layout.sql), forget what an unfinished earlier build left
    behind, and register this build.
-#}
{% macro txmon_begin_build() %}
    {%- set schema = internal_schema() -%}
    {{- warn_deprecated_settings() }}
    create schema if not exists {{ schema }};
    create table if not exists {{ schema }}.build_log (
        build_id bigserial primary key,
        invocation_id text not null unique,
        started_at timestamptz not null default clock_timestamp(),
        finished_at timestamptz,
        is_published boolean not null default false,
        is_full_refresh boolean,
        recompute_from timestamptz,
        published_through timestamptz,
        late_rows bigint,
        late_from timestamptz,
        error text
    );
    create table if not exists {{ schema }}.publication (
        is_singleton boolean primary key default true check (is_singleton),
        published_build_id bigint not null,
        published_through timestamptz,
        fingerprint text,
        published_at timestamptz not null default clock_timestamp()
    );
    {{- rename_stored_columns() }}
    {%- if is_building() %}
    -- One build at a time: a second one fails at once instead of mixing its rows with ours.
    -- The lock belongs to this session and ends with it, also when the process dies. It is the
    -- target's ('txmon.build' on prod): a dev build beside prod neither waits nor blocks.
    do $$
    begin
        if not pg_try_advisory_lock(hashtext('{{ schema }}.build')) then
            raise exception 'another txmon build is running on this database';
        end if;
    end
    $$;
    {{- drop_previous_layouts() }}
    {{- update_stored_layouts() }}
    {#- Only after a build that did not publish: the delete reads every stored version (there
        is no index on build_id), which a cycle must not pay when nothing was left behind. #}
    {%- for model in versioned_models() %}
    do $$
    begin
        if to_regclass('{{ schema }}.{{ model }}') is not null and exists (
            select from {{ schema }}.build_log where build_id > {{ published_build_id() }}
        ) then
            delete from {{ schema }}.{{ model }}
            where build_id > {{ published_build_id() }};
        end if;
    end
    $$;
    {%- endfor %}
    insert into {{ schema }}.build_log (invocation_id) values ('{{ invocation_id }}');
    {%- endif %}
    commit;
{% endmacro %}


{#-
    on-run-end: publish when every node passed, otherwise record the failure and leave the
    published results as they were.
-#}
{% macro txmon_publish(results) %}
    {%- if not is_building() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set schema = internal_schema() -%}
    {%- set failed = [] -%}
    {%- set passed = [] -%}
    {%- for result in results -%}
        {%- if result.status in ['error', 'fail', 'runtime error'] -%}
            {%- do failed.append(result.node.name) -%}
        {%- elif result.status == 'success' and result.node.resource_type == 'model' -%}
            {%- do passed.append(result.node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if failed %}
    update {{ schema }}.build_log
    set finished_at = clock_timestamp(), error = {{ dbt.string_literal('failed: ' ~ (failed | join(', '))) }}
    where build_id = {{ current_build_id() }};
    {%- elif 'int_build_window' in passed %}
    do $$
    declare
        window_row record;
    begin
        select * into window_row from {{ schema }}.int_build_window;
        {%- for model in versioned_models() if model in passed %}
        delete from {{ schema }}.{{ model }}
        where build_id < window_row.build_id
            and (
                window_row.is_full_refresh
                or {{ superseded_condition(model, schema) }}
            );
        {%- endfor %}
        insert into {{ schema }}.publication as publication
            (published_build_id, published_through, fingerprint)
        values (window_row.build_id, window_row.newest_minute_at, window_row.fingerprint)
        on conflict (is_singleton) do update
        set published_build_id = excluded.published_build_id,
            published_through = coalesce(excluded.published_through, publication.published_through),
            fingerprint = excluded.fingerprint,
            published_at = clock_timestamp();
        update {{ schema }}.build_log
        set finished_at = clock_timestamp(),
            is_published = true,
            is_full_refresh = window_row.is_full_refresh,
            recompute_from = window_row.recompute_from,
            published_through = window_row.newest_minute_at,
            late_rows = window_row.late_rows,
            late_from = window_row.late_from
        where build_id = window_row.build_id;
    end
    $$;
    {{- drop_previous_layouts() }}
    {%- else %}
    update {{ schema }}.build_log set finished_at = clock_timestamp()
    where build_id = {{ current_build_id() }};
    {%- endif %}
    select pg_advisory_unlock(hashtext('{{ schema }}.build'));
    commit;
{% endmacro %}


{#- Which older rows of a versioned model the current build has recomputed. -#}
{% macro superseded_condition(model, schema) -%}
    {%- if model == 'fct_anomaly_episodes' -%}
        (
            last_minute_at >= window_row.recompute_from
            or episode_id in (
                select recomputed.episode_id from {{ schema }}.{{ model }} as recomputed
                where recomputed.build_id = window_row.build_id
            )
        )
    {%- else -%}
        minute_at >= window_row.recompute_from
    {%- endif -%}
{%- endmacro %}


{#-
    The newest version of each key of a versioned model that the running build may read: its
    own rows where it recomputed them, the published ones elsewhere. Expects the model's
    `build_window` CTE (int_build_window).
-#}
{% macro latest_versions(relation, key_columns, condition='true') -%}
    select distinct on ({{ key_columns | join(', ') }}) *
    from {{ relation }}
    where build_id <= (select build_window.build_id from build_window) and ({{ condition }})
    order by {{ key_columns | join(', ') }}, build_id desc
{%- endmacro %}


{#-
    The same for some series only, each from its own first minute: the newest version the
    running build may read of every minute of each series in the CTE `starts` from its
    `start_column` on (and `condition`, over the alias `versions`). One index range per
    series: an episode open for hours costs its own minutes, not those of every series since it
    began. Expects the model's `build_window` CTE.
-#}
{% macro latest_versions_since(relation, starts, start_column, condition='true') -%}
    select latest.*
    from {{ starts }}
    cross join lateral (
        select distinct on (versions.minute_at) versions.*
        from {{ relation }} as versions
        where
            versions.series_id = {{ starts }}.series_id
            and versions.minute_at >= {{ starts }}.{{ start_column }}
            and versions.build_id <= (select build_window.build_id from build_window)
            and ({{ condition }})
        order by versions.minute_at, versions.build_id desc
    ) as latest
{%- endmacro %}


{#- Filter for public views: only what the last successful build published. -#}
{% macro is_published(relation_alias) -%}
    {{ relation_alias }}.build_id <= {{ published_build_id() }}
{%- endmacro %}
