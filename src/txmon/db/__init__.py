"""Reaching PostgreSQL: database URLs and connections, the embedded server, scratch databases
and the read-only role for dashboards.

May import: `txmon.core`.
"""
