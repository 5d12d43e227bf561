{{ config(post_hook=['analyze {{ this }}']) }}

-- One row: what the running build recomputes. An incremental build re-judges the last
-- lateness_minutes published minutes (late and revised data within that window are picked up)
-- and every newer minute; a full refresh recomputes all history. A build is full when asked
-- (--full-refresh), when nothing has been published yet, when the settings, seeds or stored
-- layout that shape the results changed since the published build, when the trailing
-- baseline's state is missing, and always in the prototype's mode, whose statistics span every
-- minute. Rows loaded after the published build for minutes older than the window are counted
-- as late: they wait for a full refresh.

{%- set lateness = setting('lateness_minutes') | int %}
{%- set window_minutes = setting('evaluation_window_minutes') | int %}

with

-- Not materialized: each use below reads the raw day partitions through an index; a CTE used
-- twice is otherwise materialized, which copies all history on every build.
transaction_counts as not materialized (

    select * from {{ ref('stg_txmon_raw__transaction_counts') }}

),

transactions as not materialized (

    select * from {{ ref('stg_txmon_raw__transactions') }}

),

load_removals as (

    select * from {{ ref('stg_txmon_raw__load_removals') }}

),

metric_definitions as (

    select * from {{ ref('metric_definitions') }}

),

severity_levels as (

    select * from {{ ref('severity_levels') }}

),

monitored_dimensions as (

    select * from {{ ref('monitored_dimensions') }}

),

-- min and max of the indexed raw columns, so each is one index probe.
counts_bounds as (

    select
        min(observed_at) as first_at,
        max(observed_at) as newest_at

    from transaction_counts

),

transactions_bounds as (

    select
        min(created_at) as first_at,
        max(created_at) as newest_at

    from transactions

),

data_bounds as (

    select
        date_trunc(
            'minute', least(counts_bounds.first_at, transactions_bounds.first_at), 'UTC'
        ) as first_minute_at,
        date_trunc(
            'minute', greatest(counts_bounds.newest_at, transactions_bounds.newest_at), 'UTC'
        ) as newest_minute_at

    from counts_bounds
    cross join transactions_bounds

),

published as (

    select
        current_publication.published_build_id,
        current_publication.published_through,
        current_publication.fingerprint,
        published_build.started_at as published_build_started_at

    from {{ internal_schema() }}.publication as current_publication
    left join {{ internal_schema() }}.build_log as published_build
        on current_publication.published_build_id = published_build.build_id

),

metric_definitions_text as (

    select string_agg(metric_definitions::text, '|' order by metric_name) as seed_text
    from metric_definitions

),

severity_levels_text as (

    select string_agg(severity_levels::text, '|' order by severity_rank) as seed_text
    from severity_levels

),

monitored_dimensions_text as (

    select
        coalesce(string_agg(monitored_dimensions::text, '|' order by dimension_name), '')
            as seed_text
    from monitored_dimensions

),

-- Everything that shapes the results: a change recomputes all history. txmon_begin_build
-- marks the published fingerprint as stale when it rebuilt a table of an older layout.
settings as (

    select
        md5(
            {{ dbt.string_literal(tojson({
                'baseline_mode': setting('baseline_mode'),
                'threshold_sigmas': setting('threshold_sigmas'),
                'evaluation_window_minutes': setting('evaluation_window_minutes'),
                'min_history_minutes': setting('min_history_minutes'),
                'outlier_learning_share': setting('outlier_learning_share'),
                'outage_min_expected': setting('outage_min_expected'),
                'outage_fraction': setting('outage_fraction'),
                'latency_sla_ms': setting('latency_sla_ms'),
                'latency_sla_minutes': setting('latency_sla_minutes'),
                'recovery_minutes': recovery_minutes(),
                'stored_layout_version': stored_layout_version(),
                'inputs': local_md5(tojson([var('counts_source'), var('transactions_source')])),
            })) }}
            || metric_definitions_text.seed_text
            || severity_levels_text.seed_text
            || monitored_dimensions_text.seed_text
        ) as fingerprint

    from metric_definitions_text
    cross join severity_levels_text
    cross join monitored_dimensions_text

),

decided as (

    select
        {{ current_build_id() }} as build_id,
        coalesce(published.published_build_id, 0) as published_build_id,
        data_bounds.first_minute_at,
        data_bounds.newest_minute_at,
        published.published_through,
        published.published_build_started_at,
        settings.fingerprint,
        coalesce(
            {{ 'true' if flags.FULL_REFRESH else 'false' }}
            or {{ 'true' if setting('baseline_mode') == 'prototype' else 'false' }}
            or published.fingerprint <> settings.fingerprint
            or to_regclass('{{ internal_schema() }}.int_metric_baselines_trailing') is null
            or published.published_through < data_bounds.first_minute_at,
            true
        ) as is_full_refresh

    from data_bounds
    cross join settings
    left join published on true

),

-- The oldest minute a cycle may re-judge: lateness_minutes back from the newest published one.
floors as (

    select
        *,
        case
            when is_full_refresh then first_minute_at
            else greatest(
                first_minute_at,
                least(published_through, newest_minute_at) - interval '{{ lateness - 1 }} minutes'
            )
        end as lateness_floor

    from decided

),

-- Rows loaded after this moment may be new, revised or late; none are in a full refresh,
-- which reads everything.
late_bound as (

    select published_build_started_at as loaded_after
    from decided
    where not is_full_refresh

),

-- Rows loaded since the published build started. The bound is a scalar subquery, so each day
-- partition is read through its loaded_at index whatever the history's length (a join here
-- scanned every partition); materialized, so the event-time filter below cannot steer the
-- planner to the event-time index, which would read all history before the window.
counts_loaded_since as materialized (

    select
        transaction_counts.observed_at,
        transaction_counts.minute_at

    from transaction_counts
    where
        transaction_counts.loaded_at > (select late_bound.loaded_after from late_bound)

),

transactions_loaded_since as materialized (

    select
        transactions.created_at,
        transactions.minute_at

    from transactions
    where
        transactions.loaded_at > (select late_bound.loaded_after from late_bound)

),

-- Loads removed since then: their minutes changed.
removals_since as (

    select load_removals.first_minute_at as minute_at

    from load_removals
    inner join decided
        on
            not decided.is_full_refresh
            and load_removals.removed_at > decided.published_build_started_at

),

changed_minutes as (

    select counts_loaded_since.minute_at from counts_loaded_since
    union all
    select transactions_loaded_since.minute_at from transactions_loaded_since
    union all
    select removals_since.minute_at from removals_since

),

-- A cycle re-judges from the first minute that changed since the published build (within the
-- lateness window) or the first unpublished minute, and at least the newest minute: a minute
-- nobody wrote again keeps its verdict, so a cycle costs what its new minutes cost. Inputs whose
-- load times are not known (a table of yours, a seed: loaded_at is the event time) re-judge the
-- whole window.
windowed as (

    select
        floors.*,
        case
            when floors.is_full_refresh then floors.first_minute_at
            {%- if has_load_times() %}
                else least(
                    greatest(
                        floors.lateness_floor,
                        least(
                            (
                                select min(changed_minutes.minute_at) as first_changed_at
                                from changed_minutes
                                where changed_minutes.minute_at >= floors.lateness_floor
                            ),
                            -- Every minute after the published ones, with data or without.
                            floors.published_through + interval '1 minute'
                        )
                    ),
                    floors.newest_minute_at
                )
            {%- else %}
                else floors.lateness_floor
            {%- endif %}
        end as recompute_from

    from floors

),

-- Of the changed rows, those for minutes before the lateness window: they wait for a full
-- refresh.
late_minutes as (

    select changed_minutes.minute_at
    from changed_minutes
    where changed_minutes.minute_at < (select windowed.lateness_floor from windowed)

),

late_rows as (

    select
        count(*) as late_rows,
        min(late_minutes.minute_at) as late_from

    from late_minutes

),

final as (

    select
        windowed.build_id,
        windowed.published_build_id,
        windowed.is_full_refresh,
        windowed.first_minute_at,
        windowed.newest_minute_at,
        windowed.published_through,
        windowed.recompute_from,
        -- Nothing kept from earlier builds counts: the incremental models start over.
        windowed.is_full_refresh
        or windowed.recompute_from = windowed.first_minute_at as is_from_scratch,
        -- The evaluation window of the first recomputed minute reaches back this far.
        greatest(
            windowed.first_minute_at,
            windowed.recompute_from - interval '{{ window_minutes - 1 }} minutes'
        ) as lookback_from,
        windowed.fingerprint,
        late_rows.late_rows,
        late_rows.late_from

    from windowed
    cross join late_rows

)

select * from final
