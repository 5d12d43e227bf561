-- Raw tables that `txmon load` (and any other writer) fills; dbt reads them as sources.
-- Created by txmon before every load and build; every statement is idempotent. txmon runs this
-- file again only when its text changes (its hash is kept as the comment on schema txmon_raw).

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
-- The first and last minute of a load's rows (`txmon loads list`, the overlap warning).
alter table txmon_raw.loads add column if not exists first_minute_at timestamptz;
alter table txmon_raw.loads add column if not exists last_minute_at timestamptz;

-- The minutes each removed load covered (`txmon loads remove`, `txmon load --force`), so that
-- an incremental build can judge those minutes again.
create table if not exists txmon_raw.load_removals (
    load_id bigint primary key,
    first_minute_at timestamptz,
    last_minute_at timestamptz,
    removed_at timestamptz not null default now()
);

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

-- The two data tables are partitioned by UTC day of their event time, so `txmon prune` drops
-- old days whole. Rows for a day without a partition land in the DEFAULT partition (no writer
-- ever gets "no partition found"); txmon_raw.partition_default_rows() moves them into day
-- partitions, which txmon calls before every load and build.
--
-- Earlier versions made plain tables: set them aside here, and move their rows below.
do $$
begin
    if (select relkind from pg_class where oid = to_regclass('txmon_raw.transaction_counts')) = 'r'
    then
        alter table txmon_raw.transaction_counts rename to transaction_counts_unpartitioned;
        alter table txmon_raw.transaction_counts_unpartitioned
            rename constraint transaction_counts_pkey to transaction_counts_unpartitioned_pkey;
        drop index if exists txmon_raw.transaction_counts_observed_at_idx;
        drop index if exists txmon_raw.transaction_counts_load_id_idx;
        -- The new table takes the sequence over, so count_id goes on where it stopped.
        alter sequence txmon_raw.transaction_counts_count_id_seq owned by none;
    end if;
    if (select relkind from pg_class where oid = to_regclass('txmon_raw.transactions')) = 'r' then
        alter table txmon_raw.transactions rename to transactions_unpartitioned;
        alter table txmon_raw.transactions_unpartitioned
            rename constraint transactions_pkey to transactions_unpartitioned_pkey;
        drop index if exists txmon_raw.transactions_created_at_idx;
        drop index if exists txmon_raw.transactions_load_id_idx;
    end if;
end
$$;

-- Per-minute counts by status, the prototype's format. Rows for the same minute and status add up.
create sequence if not exists txmon_raw.transaction_counts_count_id_seq;
create table if not exists txmon_raw.transaction_counts (
    count_id bigint not null default nextval('txmon_raw.transaction_counts_count_id_seq'),
    observed_at timestamptz not null,
    status text not null check (status <> ''),
    transaction_count bigint not null check (transaction_count >= 0),
    load_id bigint references txmon_raw.loads (load_id) on delete cascade,
    line_number integer,
    loaded_at timestamptz not null default now(),
    -- A key of a partitioned table must hold the partition column; count_id alone is unique.
    primary key (count_id, observed_at)
) partition by range (observed_at);
alter sequence txmon_raw.transaction_counts_count_id_seq
    owned by txmon_raw.transaction_counts.count_id;
create table if not exists txmon_raw.transaction_counts_default
    partition of txmon_raw.transaction_counts default;
create index if not exists transaction_counts_observed_at_idx
    on txmon_raw.transaction_counts (observed_at);
create index if not exists transaction_counts_load_id_idx
    on txmon_raw.transaction_counts (load_id);
-- Builds look up the rows loaded since the last one (late data) by loaded_at.
create index if not exists transaction_counts_loaded_at_idx
    on txmon_raw.transaction_counts (loaded_at);

-- One row per transaction, the way a production database holds them. The key leads with
-- transaction_id, so its index also serves the loader's look-up of ids from earlier loads.
create table if not exists txmon_raw.transactions (
    transaction_id text not null,
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
    loaded_at timestamptz not null default now(),
    primary key (transaction_id, created_at)
) partition by range (created_at);
create table if not exists txmon_raw.transactions_default
    partition of txmon_raw.transactions default;
create index if not exists transactions_created_at_idx on txmon_raw.transactions (created_at);
create index if not exists transactions_load_id_idx on txmon_raw.transactions (load_id);
create index if not exists transactions_loaded_at_idx on txmon_raw.transactions (loaded_at);

-- The partition of `parent` for one UTC day, created (empty) when missing: `<table>_pYYYYMMDD`.
-- The default partition must hold no rows of that day (partition_default_rows sees to it).
create or replace function txmon_raw.create_day_partition(parent regclass, day date)
returns boolean
language plpgsql
as $$
declare
    schema_name text;
    table_name text;
    partition_name text;
begin
    select n.nspname, c.relname into schema_name, table_name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid = parent;
    partition_name := table_name || '_p' || to_char(day, 'YYYYMMDD');
    if to_regclass(format('%I.%I', schema_name, partition_name)) is not null then
        return false;
    end if;
    -- Created apart and then attached: ATTACH locks the parent in SHARE UPDATE EXCLUSIVE mode,
    -- which lets readers and writers of other days go on (CREATE ... PARTITION OF would not).
    execute format(
        'create table %I.%I (like %s including defaults including constraints)',
        schema_name, partition_name, parent
    );
    execute format(
        'alter table %s attach partition %I.%I for values from (%L) to (%L)',
        parent, schema_name, partition_name,
        day::timestamp at time zone 'UTC', (day + 1)::timestamp at time zone 'UTC'
    );
    return true;
end
$$;

-- Moves the rows of `parent`'s DEFAULT partition into day partitions (created as needed);
-- returns how many rows moved, or null when it did not wait for a busy table.
--
-- Without `wait` it never waits for a lock: it runs inside whatever transaction called
-- ensure_raw_tables (a load, a build, an API write), and waiting there could deadlock with
-- another writer. Rows left in the default partition are still read as usual; the next call
-- moves them.
drop function if exists txmon_raw.partition_default_rows(regclass, text);
create or replace function txmon_raw.partition_default_rows(
    parent regclass, time_column text, wait boolean default false
)
returns bigint
language plpgsql
as $$
declare
    default_partition regclass;
    moved bigint;
    day date;
    nowait text := case when wait then '' else ' nowait' end;
begin
    select i.inhrelid::regclass into default_partition
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = parent and c.relpartbound is not null
      and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
    if default_partition is null then
        return 0;
    end if;
    -- The locks ATTACH takes below, in one order: loads (for the foreign key), the parent,
    -- the default partition. Writers of days that have no partition wait until the rows
    -- moved; writers of other days go on.
    begin
        execute 'lock table txmon_raw.loads in share row exclusive mode' || nowait;
        execute format('lock table %s in share update exclusive mode', parent) || nowait;
        execute format('lock table %s in access exclusive mode', default_partition) || nowait;
    exception when lock_not_available then
        return null;
    end;
    execute format(
        'create temporary table txmon_moving on commit drop as select * from only %s',
        default_partition
    );
    get diagnostics moved = row_count;
    if moved > 0 then
        -- TRUNCATE, not DELETE: the default partition is scanned by every ATTACH below.
        execute format('truncate only %s', default_partition);
        for day in execute format(
            'select distinct (%I at time zone ''UTC'')::date from txmon_moving', time_column
        ) loop
            perform txmon_raw.create_day_partition(parent, day);
        end loop;
        execute format('insert into %s select * from txmon_moving', parent);
    end if;
    drop table txmon_moving;
    return moved;
end
$$;

-- Rows of the plain tables of earlier versions, moved into day partitions, load_id and all.
do $$
begin
    if to_regclass('txmon_raw.transaction_counts_unpartitioned') is not null then
        perform txmon_raw.create_day_partition('txmon_raw.transaction_counts', day)
        from (
            select distinct (observed_at at time zone 'UTC')::date as day
            from txmon_raw.transaction_counts_unpartitioned
        ) as days;
        insert into txmon_raw.transaction_counts
            (count_id, observed_at, status, transaction_count, load_id, line_number, loaded_at)
        select count_id, observed_at, status, transaction_count, load_id, line_number, loaded_at
        from txmon_raw.transaction_counts_unpartitioned;
        drop table txmon_raw.transaction_counts_unpartitioned;
    end if;
    if to_regclass('txmon_raw.transactions_unpartitioned') is not null then
        perform txmon_raw.create_day_partition('txmon_raw.transactions', day)
        from (
            select distinct (created_at at time zone 'UTC')::date as day
            from txmon_raw.transactions_unpartitioned
        ) as days;
        insert into txmon_raw.transactions
            (transaction_id, created_at, status, amount, channel, product, acquirer, card_type,
             auth_code, duration_ms, load_id, line_number, loaded_at)
        select transaction_id, created_at, status, amount, channel, product, acquirer, card_type,
               auth_code, duration_ms, load_id, line_number, loaded_at
        from txmon_raw.transactions_unpartitioned;
        drop table txmon_raw.transactions_unpartitioned;
    end if;
end
$$;
