-- The read-only login role that dashboards use: the one definition of what it may do.
--
-- Run in one transaction, then call the function it defines:
--   select pg_temp.txmon_reader_role(<role>, <password or its SCRAM verifier>, <schema>);
-- `txmon db reader` and `txmon superset up` run it through txmon.db.roles (with a verifier);
-- docker-compose.yml mounts this file into the postgres container, where
-- deploy/postgres/initdb/10-superset-reader.sh runs it with psql. Safe to run again: it updates
-- the role in place, password included.
--
-- The role logs in, reads the one schema it is given (txmon's public views: they run with their
-- owner's rights, so the tables behind them stay out of reach) and nothing else, every
-- transaction it opens is read-only and no statement runs longer than two minutes.

-- A superuser's session logs neither statement texts nor error context here: both could carry
-- the password. Other roles may not change these settings; their servers log what they log.
select set_config(setting, value, true)
from (
    values
        ('log_statement', 'none'),
        ('log_min_error_statement', 'panic'),
        ('log_error_verbosity', 'terse')
) as quiet (setting, value)
where (select rolsuper from pg_roles where rolname = current_user);

-- A function in pg_temp lives for this session only and leaves nothing behind in the database.
create or replace function pg_temp.txmon_reader_role(reader name, secret text, readable name)
returns void
language plpgsql
as $$
declare
    granted_schema name;
begin
    if reader = current_user then
        raise exception 'it is the role txmon connects as: choose another'
            using errcode = 'invalid_parameter_value';
    end if;
    if not (select rolsuper or rolcreaterole from pg_roles where rolname = current_user) then
        raise exception 'permission denied: % has neither CREATEROLE nor SUPERUSER', current_user
            using errcode = 'insufficient_privilege';
    end if;
    -- Two callers creating the same role at once would collide.
    perform pg_advisory_xact_lock(hashtext('txmon.reader_role'));
    if not exists (select from pg_roles where rolname = reader) then
        execute format('create role %I', reader);
    end if;
    -- The password gets a statement of its own: the one that can fail (a role the caller may
    -- not alter) never holds it, so no error message or context can show it.
    execute format('alter role %I with login nosuperuser nocreatedb nocreaterole', reader);
    execute format('alter role %I password %L', reader, secret);
    execute format('alter role %I set default_transaction_read_only = on', reader);
    execute format('alter role %I set statement_timeout = %L', reader, '120s');
    execute format('grant connect on database %I to %I', current_database(), reader);

    -- The schema exists before the first build, so the grants below can be given now.
    if not exists (select from pg_namespace where nspname = readable) then
        execute format('create schema %I', readable);
    end if;
    for granted_schema in
        select namespace.nspname
        from pg_namespace as namespace, aclexplode(namespace.nspacl) as acl
        where acl.grantee = (select oid from pg_roles where rolname = reader)
            and namespace.nspname <> readable
    loop
        execute format('revoke all on schema %I from %I', granted_schema, reader);
    end loop;
    execute format('grant usage on schema %I to %I', readable, reader);
    execute format('grant select on all tables in schema %I to %I', readable, reader);
    -- The views later builds create (as the current user) are readable too.
    execute format(
        'alter default privileges in schema %I grant select on tables to %I', readable, reader
    );
end
$$;
