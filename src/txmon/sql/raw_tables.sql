-- Raw tables that `txmon load` (and any other writer) fills; dbt reads them as sources.
-- Created by txmon before every load and build; every statement is idempotent.

create schema if not exists txmon_raw;

-- One row per file loaded: its content hash makes a second load of the same file a no-op.
create table if not exists txmon_raw.loads (
    load_id bigserial primary key,
    file_name text not null,
    file_sha256 text not null,
    input_shape text not null check (input_shape in ('counts', 'events')),
    rows_loaded bigint not null default 0,
    rows_rejected bigint not null default 0,
    source_timezone text not null default 'UTC',
    is_forced boolean not null default false,
    loaded_at timestamptz not null default now()
);
create index if not exists loads_file_sha256_idx on txmon_raw.loads (file_sha256);

-- Per-minute counts by status, the prototype's format. Rows for the same minute and status add up.
create table if not exists txmon_raw.transaction_counts (
    count_id bigserial primary key,
    observed_at timestamptz not null,
    status text not null check (status <> ''),
    transaction_count bigint not null check (transaction_count >= 0),
    load_id bigint references txmon_raw.loads (load_id) on delete cascade,
    line_number integer,
    loaded_at timestamptz not null default now()
);
create index if not exists transaction_counts_observed_at_idx
    on txmon_raw.transaction_counts (observed_at);
create index if not exists transaction_counts_load_id_idx
    on txmon_raw.transaction_counts (load_id);

-- One row per transaction, the way a production database holds them.
create table if not exists txmon_raw.transactions (
    transaction_id text primary key,
    created_at timestamptz not null,
    status text not null check (status <> ''),
    amount numeric(18, 2) not null,
    channel text,
    product text,
    acquirer text,
    card_type text,
    auth_code text,
    duration_ms integer check (duration_ms >= 0),
    load_id bigint references txmon_raw.loads (load_id) on delete cascade,
    line_number integer,
    loaded_at timestamptz not null default now()
);
create index if not exists transactions_created_at_idx on txmon_raw.transactions (created_at);
create index if not exists transactions_load_id_idx on txmon_raw.transactions (load_id);

-- Every input line that could not be loaded, with where it came from and why.
create table if not exists txmon_raw.load_rejects (
    reject_id bigserial primary key,
    load_id bigint references txmon_raw.loads (load_id) on delete cascade,
    file_name text not null,
    line_number integer not null,
    raw_line text not null,
    reason text not null,
    rejected_at timestamptz not null default now()
);
create index if not exists load_rejects_load_id_idx on txmon_raw.load_rejects (load_id);
