"""The dbt project as txmon runs it (arguments, settings passed as vars, results) and the
readers of the public views it publishes.

May import: `txmon.ingest`, `txmon.db`, `txmon.core`.
"""
