"""Superset settings for txmon's dashboards.

Loaded through SUPERSET_CONFIG_PATH by `txmon superset up` and by the compose service. Paths and
secrets come from the environment:

- TXMON_SUPERSET_HOME: folder for Superset's metadata (SQLite) and generated secret key.
- SUPERSET_SECRET_KEY: the key that signs sessions and encrypts stored database passwords; when
  absent, the one `txmon superset up` generated and keeps in TXMON_SUPERSET_HOME/secret_key.
- SUPERSET_METADATA_URI: a metadata database other than the SQLite file, if wanted.
- TXMON_PUBLIC_SCHEMA: the schema of txmon's public views, when not `monitoring`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SUPERSET_HOME = Path(os.environ.get("TXMON_SUPERSET_HOME", "/app/superset_home"))
SUPERSET_HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    configured = os.environ.get("SUPERSET_SECRET_KEY", "").strip()
    if configured:
        return configured
    key_file = SUPERSET_HOME / "secret_key"
    if key_file.is_file():
        return key_file.read_text().strip()
    raise RuntimeError(
        f"set SUPERSET_SECRET_KEY, or run `txmon superset up`, which keeps one in {key_file}"
    )


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "SUPERSET_METADATA_URI",
    f"sqlite:///{SUPERSET_HOME / 'superset.db'}?check_same_thread=false",
)
DATA_DIR = str(SUPERSET_HOME)

# Jinja in virtual datasets: the dashboard's time-window filter is applied inside their SQL.
FEATURE_FLAGS = {"ENABLE_TEMPLATE_PROCESSING": True}

# "Last day" and the like count back from this moment, not from midnight.
DEFAULT_RELATIVE_START_TIME = "now"
DEFAULT_RELATIVE_END_TIME = "now"

# The windows offered by the dashboard's filter, in hours; "full" means no limit. They count back
# from the latest minute in the data, so a backfill or a stalled feed still shows its last hours.
TIME_WINDOW_HOURS = {"6h": 6, "12h": 12, "24h": 24, "48h": 48}
_COLUMN = re.compile(r"[a-z_][a-z0-9_]*")
# The schema of txmon's public views (txmon.core.facts.PUBLIC_SCHEMA, which txmon checks first).
PUBLIC_SCHEMA = os.environ.get("TXMON_PUBLIC_SCHEMA", "").strip() or "monitoring"
if not _COLUMN.fullmatch(PUBLIC_SCHEMA):
    raise RuntimeError(f"TXMON_PUBLIC_SCHEMA={PUBLIC_SCHEMA!r} is not a schema name")


def time_window_condition(column: str, chosen: list[object] | None = None) -> str:
    """SQL condition keeping rows whose `column` lies in the chosen window.

    `chosen` is what `filter_values('time_window', remove_filter=True)` returned; an unknown
    value can only widen the window to the full period, never reach the SQL text.
    """
    if not _COLUMN.fullmatch(column):
        raise ValueError(f"not a column name: {column!r}")
    hours = TIME_WINDOW_HOURS.get(str(chosen[0])) if chosen else None
    if hours is None:
        return "true"
    return (
        f"{column} > (select max(minute_at) from {PUBLIC_SCHEMA}.metric_minutes)"
        f" - interval '{hours} hours'"
    )


def cut_condition(chosen: list[object] | None = None) -> str:
    """SQL condition keeping the rows of the chosen series cut: all transactions by default,
    or one dimension's value (`acquirer=stone`), as the dashboard's filter names them.

    `chosen` is what `filter_values('cut', remove_filter=True)` returned. The dimension must be
    a name and the value is quoted, so no choice can reach the SQL text as SQL.
    """
    choice = str(chosen[0]) if chosen else "all"
    dimension, _, value = choice.partition("=")
    if choice == "all" or not value or not _COLUMN.fullmatch(dimension):
        return "dimension = 'all'"
    quoted = value.replace("'", "''")
    return f"dimension = '{dimension}' and dimension_value = '{quoted}'"


JINJA_CONTEXT_ADDONS = {
    "time_window_condition": time_window_condition,
    "cut_condition": cut_condition,
}

# The UI loads everything from this server: no third-party hosts (maps, fonts, telemetry).
# 'unsafe-eval' is there for Handlebars, which compiles the status tiles' templates at runtime.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'", "'unsafe-eval'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
CONTENT_SECURITY_POLICY_WARNING = False

# The status tiles are Handlebars charts: their template colours each tile through a class from
# the chart's own <style>, and marks it with data-metric/data-severity for scripts and tests.
HTML_SANITIZATION_SCHEMA_EXTENSIONS = {
    "tagNames": ["style"],
    "attributes": {"div": ["className", "data*"], "span": ["className", "data*"]},
}

# Nothing phones home: this server may have no route to the internet.
SCARF_ANALYTICS = False
WTF_CSRF_ENABLED = True
ROW_LIMIT = 100_000
SQL_MAX_ROW = 100_000
