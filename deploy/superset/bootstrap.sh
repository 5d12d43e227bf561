#!/bin/sh
# Starts Superset for txmon: upgrades its metadata, creates the admin user on the first start,
# imports (or updates) txmon's database entry, datasets, charts and dashboard from the assets
# baked into the image, then runs the web server.
set -e

: "${SUPERSET_SECRET_KEY:?SUPERSET_SECRET_KEY is not set}"
: "${SUPERSET_ADMIN_USERNAME:?SUPERSET_ADMIN_USERNAME is not set}"
: "${SUPERSET_ADMIN_PASSWORD:?SUPERSET_ADMIN_PASSWORD is not set}"
: "${SUPERSET_ADMIN_EMAIL:?SUPERSET_ADMIN_EMAIL is not set}"
: "${TXMON_SUPERSET_DATABASE_URI:?TXMON_SUPERSET_DATABASE_URI is not set}"

superset db upgrade

# Exits 0 and says so when the user exists: the password is only set on the first start
# (change it later in Superset, or with `superset fab reset-password`).
superset fab create-admin \
    --username "$SUPERSET_ADMIN_USERNAME" \
    --password "$SUPERSET_ADMIN_PASSWORD" \
    --email "$SUPERSET_ADMIN_EMAIL" \
    --firstname Admin --lastname txmon

superset init

# Reads TXMON_SUPERSET_DATABASE_URI; overwrites the assets it created before.
python /app/txmon/txmon_assets.py import "$SUPERSET_ADMIN_USERNAME"

for server in /app/docker/entrypoints/run-server.sh /usr/bin/run-server.sh; do
    if [ -x "$server" ]; then
        exec "$server"
    fi
done
echo "bootstrap: Superset's run-server.sh not found" >&2
exit 1
