"""`txmon superset up|down|status`: Apache Superset with txmon's dashboard, from files.

Superset runs from a virtualenv of its own (it pins an older SQLAlchemy and many packages that
must not meet txmon's), keeps its metadata in SQLite under `<TXMON_HOME>/superset/`, reads
PostgreSQL as a role that can only select from the public views, and gets its dashboard from
the export bundle under `superset/assets/` on every `up`.

`home` (folders, committed files, the virtualenv, one setup step), `provision` (secrets, the
admin, the reader role, the dashboard import), `server` (the web server process) and
`commands` (what the three subcommands do, in order).
"""
