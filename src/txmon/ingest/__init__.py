"""Getting transactions in, bottom to top: `fields` (the transaction schema and each field's
rule), `raw_tables` (the tables rows land in), `time_sanity`, `readers` (CSV files),
`writer` (the one writer every entry point uses: files, the API, replay), `loads` (the loads
table, API batches kept under their idempotency key included), `files` (`txmon load`), and
`retention` (`txmon prune`).

May import: `txmon.db`, `txmon.core`.
"""
