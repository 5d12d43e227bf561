#!/bin/sh
# Starts Superset for txmon: upgrades its metadata, creates the admin user on the first start,
# registers txmon's database through the read-only role, then runs the web server.
set -e

: "${SUPERSET_SECRET_KEY:?SUPERSET_SECRET_KEY is not set}"
: "${SUPERSET_ADMIN_USERNAME:?SUPERSET_ADMIN_USERNAME is not set}"
: "${SUPERSET_ADMIN_PASSWORD:?SUPERSET_ADMIN_PASSWORD is not set}"
: "${SUPERSET_ADMIN_EMAIL:?SUPERSET_ADMIN_EMAIL is not set}"

superset db upgrade

# Exits 0 and says so when the user exists: the password is only set on the first start
# (change it later in Superset, or with `superset fab reset-password`).
superset fab create-admin \
    --username "$SUPERSET_ADMIN_USERNAME" \
    --password "$SUPERSET_ADMIN_PASSWORD" \
    --email "$SUPERSET_ADMIN_EMAIL" \
    --firstname Admin --lastname txmon

superset init

if [ -n "${TXMON_READONLY_URI:-}" ]; then
    superset set-database-uri --database_name txmon --uri "$TXMON_READONLY_URI" \
        || echo "bootstrap: could not register the txmon database; add it in the UI" >&2
fi

for server in /app/docker/entrypoints/run-server.sh /usr/bin/run-server.sh; do
    if [ -x "$server" ]; then
        exec "$server"
    fi
done
echo "bootstrap: Superset's run-server.sh not found" >&2
exit 1
