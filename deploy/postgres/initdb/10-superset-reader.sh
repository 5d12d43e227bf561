#!/bin/sh
# Creates the read-only role that Superset uses to query txmon's public views (schema
# `monitoring`). The postgres image runs this once, when it initialises an empty data volume;
# on an existing volume run it by hand (it is idempotent, and also resets the password):
#
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-superset-reader.sh
#
# The role can read `monitoring` only (the views run with their owner's rights, so the raw
# and intermediate tables stay out of reach), and every transaction it opens is read-only.
set -e

: "${POSTGRES_USER:?POSTGRES_USER is not set}"
: "${POSTGRES_DB:?POSTGRES_DB is not set}"
: "${SUPERSET_READER_USER:?SUPERSET_READER_USER is not set}"
: "${SUPERSET_READER_PASSWORD:?SUPERSET_READER_PASSWORD is not set}"

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner="$POSTGRES_USER" \
    -v dbname="$POSTGRES_DB" \
    -v reader="$SUPERSET_READER_USER" \
    -v reader_password="$SUPERSET_READER_PASSWORD" <<'SQL'
select format('create role %I login', :'reader')
where not exists (select from pg_roles where rolname = :'reader')
\gexec
select format('alter role %I with login nosuperuser nocreatedb nocreaterole password %L',
              :'reader', :'reader_password')
\gexec
alter role :"reader" set default_transaction_read_only = on;
alter role :"reader" set statement_timeout = '120s';

revoke all on database :"dbname" from public;
grant connect on database :"dbname" to :"reader";

-- dbt creates the views in `monitoring` as the owner; the schema exists from the start so
-- that the reader can be granted access before the first build.
create schema if not exists monitoring authorization :"owner";
grant usage on schema monitoring to :"reader";
grant select on all tables in schema monitoring to :"reader";
alter default privileges for role :"owner" in schema monitoring
    grant select on tables to :"reader";
SQL
