"""Getting transactions in: the field rules, file readers, the one writer every entry point uses
(files, the API, replay), the raw tables, loads and retention of raw days.

May import: `txmon.db`, `txmon.core`.
"""
