{#-
    txmon's own raw tables: the one definition of their DDL, rendered by dbt (on-run-start,
    create_raw_tables.sql) and by txmon's Python writers (txmon/ingest/raw_tables.py), which
    both create the tables before they need them. Plain Jinja only (no dbt functions), so both
    render the same text; the text's md5, kept as the comment on the schema, says which
    version of it the schema has. Every statement is idempotent.
-#}

{#- The advisory lock under which the tables are created and rows moved between partitions. -#}
{% macro raw_tables_lock() -%}
    txmon.raw_tables
{%- endmacro %}

{#- The start of the schema's comment: a schema without it is not txmon's (never altered). -#}
{% macro raw_tables_mark() -%}
    txmon raw tables
{%- endmacro %}

{% macro raw_tables_ddl(schema) %}
-- Raw tables that `txmon load` (and any other writer) fills; dbt reads them as sources.

create schema if not exists {{ schema }};

-- One row per file loaded: its content hash makes a second load of the same file a no-op.
create table if not exists {{ schema }}.loads (
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
create index if not exists loads_file_sha256_idx on {{ schema }}.loads (file_sha256);
-- The first and last minute of a load's rows (`txmon loads list`, the overlap warning).
alter table {{ schema }}.loads add column if not exists first_minute_at timestamptz;
alter table {{ schema }}.loads add column if not exists last_minute_at timestamptz;

-- The minutes each removed load covered (`txmon loads remove`, `txmon load --force`), so that
-- an incremental build can judge those minutes again.
create table if not exists {{ schema }}.load_removals (
    load_id bigint primary key,
    first_minute_at timestamptz,
    last_minute_at timestamptz,
    removed_at timestamptz not null default now()
);

-- Every input line that could not be loaded, with where it came from and why.
create table if not exists {{ schema }}.load_rejects (
    reject_id bigserial primary key,
    load_id bigint references {{ schema }}.loads (load_id) on delete cascade,
    file_name text not null,
    line_number integer not null,
    raw_line text not null,
    reason text not null,
    rejected_at timestamptz not null default now()
);
create index if not exists load_rejects_load_id_idx on {{ schema }}.load_rejects (load_id);

-- The two data tables are partitioned by UTC day of their event time, so `txmon prune` drops
-- old days whole. Rows for a day without a partition land in the DEFAULT partition (no writer
-- ever gets "no partition found"); partition_pending_rows() below moves them into day
-- partitions, before every load and build.
--
-- Earlier versions made plain tables: set them aside here, and move their rows below.
do $$
begin
    if (select relkind from pg_class where oid = to_regclass('{{ schema }}.transaction_counts')) = 'r'
    then
        alter table {{ schema }}.transaction_counts rename to transaction_counts_unpartitioned;
        alter table {{ schema }}.transaction_counts_unpartitioned
            rename constraint transaction_counts_pkey to transaction_counts_unpartitioned_pkey;
        drop index if exists {{ schema }}.transaction_counts_observed_at_idx;
        drop index if exists {{ schema }}.transaction_counts_load_id_idx;
        -- The new table takes the sequence over, so count_id goes on where it stopped.
        alter sequence {{ schema }}.transaction_counts_count_id_seq owned by none;
    end if;
    if (select relkind from pg_class where oid = to_regclass('{{ schema }}.transactions')) = 'r' then
        alter table {{ schema }}.transactions rename to transactions_unpartitioned;
        alter table {{ schema }}.transactions_unpartitioned
            rename constraint transactions_pkey to transactions_unpartitioned_pkey;
        drop index if exists {{ schema }}.transactions_created_at_idx;
        drop index if exists {{ schema }}.transactions_load_id_idx;
    end if;
end
$$;

-- Per-minute counts by status, the prototype's format. Rows for the same minute and status add up.
create sequence if not exists {{ schema }}.transaction_counts_count_id_seq;
create table if not exists {{ schema }}.transaction_counts (
    count_id bigint not null default nextval('{{ schema }}.transaction_counts_count_id_seq'),
    observed_at timestamptz not null,
    status text check (status <> ''),
    transaction_count bigint not null check (transaction_count >= 0),
    -- Counts by a dimension's value (an auth code, an acquirer), with or without a status.
    dimension_name text check (dimension_name <> ''),
    dimension_value text check (dimension_value <> ''),
    load_id bigint references {{ schema }}.loads (load_id) on delete cascade,
    line_number integer,
    loaded_at timestamptz not null default now(),
    -- A key of a partitioned table must hold the partition column; count_id alone is unique.
    primary key (count_id, observed_at),
    check (status is not null or dimension_name is not null),
    check ((dimension_name is null) = (dimension_value is null))
) partition by range (observed_at);
-- Tables made before counts could be cut by a dimension.
alter table {{ schema }}.transaction_counts add column if not exists dimension_name text;
alter table {{ schema }}.transaction_counts add column if not exists dimension_value text;
alter table {{ schema }}.transaction_counts alter column status drop not null;
alter sequence {{ schema }}.transaction_counts_count_id_seq
    owned by {{ schema }}.transaction_counts.count_id;
create table if not exists {{ schema }}.transaction_counts_default
    partition of {{ schema }}.transaction_counts default;
create index if not exists transaction_counts_observed_at_idx
    on {{ schema }}.transaction_counts (observed_at);
create index if not exists transaction_counts_load_id_idx
    on {{ schema }}.transaction_counts (load_id);
-- Builds look up the rows loaded since the last one (late data) by loaded_at.
create index if not exists transaction_counts_loaded_at_idx
    on {{ schema }}.transaction_counts (loaded_at);

-- One row per transaction, the way a production database holds them. The key leads with
-- transaction_id, so its index also serves the loader's look-up of ids from earlier loads.
create table if not exists {{ schema }}.transactions (
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
    load_id bigint references {{ schema }}.loads (load_id) on delete cascade,
    line_number integer,
    loaded_at timestamptz not null default now(),
    primary key (transaction_id, created_at)
) partition by range (created_at);
create table if not exists {{ schema }}.transactions_default
    partition of {{ schema }}.transactions default;
create index if not exists transactions_created_at_idx on {{ schema }}.transactions (created_at);
create index if not exists transactions_load_id_idx on {{ schema }}.transactions (load_id);
create index if not exists transactions_loaded_at_idx on {{ schema }}.transactions (loaded_at);

-- The partition of `parent` for one UTC day, created (empty) when missing: `<table>_pYYYYMMDD`.
-- The default partition must hold no rows of that day (partition_default_rows sees to it).
create or replace function {{ schema }}.create_day_partition(parent regclass, day date)
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
-- partition_pending_rows (a load, a build, an API write), and waiting there could deadlock with
-- another writer. Rows left in the default partition are still read as usual; the next call
-- moves them.
drop function if exists {{ schema }}.partition_default_rows(regclass, text);
create or replace function {{ schema }}.partition_default_rows(
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
        execute 'lock table {{ schema }}.loads in share row exclusive mode' || nowait;
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
            perform {{ schema }}.create_day_partition(parent, day);
        end loop;
        execute format('insert into %s select * from txmon_moving', parent);
    end if;
    drop table txmon_moving;
    return moved;
end
$$;

-- Moves the rows writers left in either default partition into day partitions; does nothing
-- while another process holds the raw tables' lock (it is creating the tables or moving the
-- same rows). The lock comes first and the look into the partitions after it: a process that
-- looked first and then waited for the lock would deadlock with the one moving rows, which
-- needs the default partition to itself.
create or replace function {{ schema }}.partition_pending_rows()
returns void
language plpgsql
as $$
begin
    if not pg_try_advisory_xact_lock(hashtext('{{ raw_tables_lock() }}')) then
        return;
    end if;
    if exists (select from {{ schema }}.transaction_counts_default) then
        perform {{ schema }}.partition_default_rows(
            '{{ schema }}.transaction_counts'::regclass, 'observed_at'
        );
    end if;
    if exists (select from {{ schema }}.transactions_default) then
        perform {{ schema }}.partition_default_rows(
            '{{ schema }}.transactions'::regclass, 'created_at'
        );
    end if;
end
$$;

-- Rows of the plain tables of earlier versions, moved into day partitions, load_id and all.
do $$
begin
    if to_regclass('{{ schema }}.transaction_counts_unpartitioned') is not null then
        perform {{ schema }}.create_day_partition('{{ schema }}.transaction_counts', day)
        from (
            select distinct (observed_at at time zone 'UTC')::date as day
            from {{ schema }}.transaction_counts_unpartitioned
        ) as days;
        insert into {{ schema }}.transaction_counts
            (count_id, observed_at, status, transaction_count, load_id, line_number, loaded_at)
        select count_id, observed_at, status, transaction_count, load_id, line_number, loaded_at
        from {{ schema }}.transaction_counts_unpartitioned;
        drop table {{ schema }}.transaction_counts_unpartitioned;
    end if;
    if to_regclass('{{ schema }}.transactions_unpartitioned') is not null then
        perform {{ schema }}.create_day_partition('{{ schema }}.transactions', day)
        from (
            select distinct (created_at at time zone 'UTC')::date as day
            from {{ schema }}.transactions_unpartitioned
        ) as days;
        insert into {{ schema }}.transactions
            (transaction_id, created_at, status, amount, channel, product, acquirer, card_type,
             auth_code, duration_ms, load_id, line_number, loaded_at)
        select transaction_id, created_at, status, amount, channel, product, acquirer, card_type,
               auth_code, duration_ms, load_id, line_number, loaded_at
        from {{ schema }}.transactions_unpartitioned;
        drop table {{ schema }}.transactions_unpartitioned;
    end if;
end
$$;
{% endmacro %}
