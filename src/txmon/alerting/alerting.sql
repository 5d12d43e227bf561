-- Tables of the alert outbox, beside the public views so that dashboards read them with the
-- same grants. {schema} is the public schema (txmon.core.facts.PUBLIC_SCHEMA), filled in by
-- txmon.alerting.schema. Idempotent: txmon runs it before every dispatch.

create schema if not exists {schema};

-- The outbox and the log in one: every notification for every channel, with its delivery.
-- The unique dedup key makes a second dispatch, a rebuild or two dispatchers at once harmless.
create table if not exists {schema}.alert_log (
    notification_id bigserial primary key,
    dedup_key text not null,
    channel text not null,
    metric_name text not null,
    episode_id text,
    event_type text not null,
    severity text not null,
    previous_severity text,
    minute_at timestamptz not null,
    episode_minutes integer,
    value double precision,
    threshold double precision,
    baseline double precision,
    message text not null,
    status text not null default 'pending'
        check (status in ('pending', 'sent', 'failed', 'suppressed')),
    suppressed_reason text,
    attempts integer not null default 0,
    last_error text,
    next_attempt_at timestamptz not null default now(),
    sent_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (dedup_key, channel)
);

-- Logs written before the episode's length got its own name called it consecutive_minutes.
do $$
begin
    if exists (
        select from information_schema.columns
        where table_schema = {schema_name} and table_name = 'alert_log'
          and column_name = 'consecutive_minutes'
    ) and not exists (
        select from information_schema.columns
        where table_schema = {schema_name} and table_name = 'alert_log'
          and column_name = 'episode_minutes'
    ) then
        alter table {schema}.alert_log rename column consecutive_minutes to episode_minutes;
    end if;
end
$$;

-- Logs written before series were cut by dimension hold only series of all transactions.
alter table {schema}.alert_log add column if not exists dimension text not null default 'all';
alter table {schema}.alert_log
    add column if not exists dimension_value text not null default 'all';

create index if not exists alert_log_pending_idx
    on {schema}.alert_log (next_attempt_at) where status = 'pending';
-- The sender's per-episode ordering check looks for an earlier pending row of the same episode.
create index if not exists alert_log_pending_episode_idx
    on {schema}.alert_log (channel, episode_id, notification_id) where status = 'pending';
create index if not exists alert_log_minute_at_idx on {schema}.alert_log (minute_at);

-- Planned quiet: notifications for matching metrics within [starts_at, ends_at) are logged as
-- suppressed, never lost. metric_pattern uses * as a wildcard (failed_* , *).
create table if not exists {schema}.alert_silences (
    silence_id bigserial primary key,
    metric_pattern text not null,
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    reason text not null,
    created_at timestamptz not null default now(),
    check (ends_at > starts_at)
);

-- One row per dispatcher run, written in the same transaction as the notifications it queued.
-- 'replay' is the mode older txmon logged the history in; replays now write nothing.
create table if not exists {schema}.dispatch_runs (
    run_id bigserial primary key,
    started_at timestamptz not null default now(),
    mode text not null constraint dispatch_runs_mode_check
        check (mode in ('live', 'backfill', 'replay')),
    latest_minute_at timestamptz,
    queued integer not null default 0,
    suppressed integer not null default 0,
    is_stale boolean not null default false
);

-- Tables made before backfills existed take them too.
do $$
begin
    if not exists (
        select from pg_constraint
        where conrelid = to_regclass(quote_ident({schema_name}) || '.dispatch_runs')
          and conname = 'dispatch_runs_mode_check'
          and pg_get_constraintdef(oid) like '%backfill%'
    ) then
        alter table {schema}.dispatch_runs drop constraint if exists dispatch_runs_mode_check;
        alter table {schema}.dispatch_runs add constraint dispatch_runs_mode_check
            check (mode in ('live', 'backfill', 'replay'));
    end if;
end
$$;

-- One row per scheduled build: the API's /health reports the last one.
create table if not exists {schema}.build_runs (
    build_id bigserial primary key,
    started_at timestamptz not null,
    finished_at timestamptz not null default now(),
    succeeded boolean not null,
    seconds double precision not null,
    error text
);
