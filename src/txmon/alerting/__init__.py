"""From alert transitions to notifications: the outbox and dispatch, silences, the alert log,
rendering and one module per channel behind one protocol.

May import: `txmon.pipeline`, `txmon.ingest`, `txmon.db`, `txmon.core`.
"""
