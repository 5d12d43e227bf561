#!/bin/sh
# Creates the read-only role that Superset uses to query txmon's public views. The postgres
# image runs this once, when it initialises an empty data volume; on an existing volume run it
# by hand (it is idempotent, and also resets the password):
#
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-superset-reader.sh
#
# What the role may do is defined in txmon's src/txmon/db/reader_role.sql, the file that
# `txmon db reader` runs too; docker-compose.yml mounts it at READER_ROLE_SQL.
set -e

: "${POSTGRES_USER:?POSTGRES_USER is not set}"
: "${POSTGRES_DB:?POSTGRES_DB is not set}"
: "${SUPERSET_READER_USER:?SUPERSET_READER_USER is not set}"
: "${SUPERSET_READER_PASSWORD:?SUPERSET_READER_PASSWORD is not set}"
READER_ROLE_SQL="${READER_ROLE_SQL:-/usr/local/share/txmon/reader_role.sql}"
# The schema of txmon's public views (txmon.core.facts.PUBLIC_SCHEMA).
READER_SCHEMA="${READER_SCHEMA:-monitoring}"

# One transaction: the role is created whole or not at all.
psql --no-psqlrc --quiet --output /dev/null --single-transaction -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v dbname="$POSTGRES_DB" \
    -v reader="$SUPERSET_READER_USER" \
    -v reader_password="$SUPERSET_READER_PASSWORD" \
    -v reader_schema="$READER_SCHEMA" \
    --file "$READER_ROLE_SQL" \
    --file - <<'SQL'
select pg_temp.txmon_reader_role(:'reader', :'reader_password', :'reader_schema');
-- This database is txmon's alone: only the roles granted CONNECT (txmon's and the reader)
-- may connect to it.
revoke all on database :"dbname" from public;
SQL
