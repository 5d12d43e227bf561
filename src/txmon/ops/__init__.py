"""Running txmon for real: the always-on scheduler (`scheduler`) and Apache Superset with
txmon's dashboard (the `superset` package: its home and virtualenv, provisioning, the server
process and the `txmon superset` commands).

May import: `txmon.console` and the rooms below it; not `txmon.serve`.
"""
