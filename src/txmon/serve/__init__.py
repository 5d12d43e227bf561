"""The monitoring API (`txmon serve`).

app.py assembles it: the routers of routes/ (one module per concern), the gate of middleware.py
(bearer token, body size) and the error answers of errors.py. Routes get the database and the
[ingest] rules from dependencies.py; they answer with models.py (the domain dataclasses, served
as they are, and the few wire-only shapes). POST /transactions validates with field_types.py
(the CSV loader's field rules as pydantic types) and batches.py (the batch, its limits, writing
it through txmon.ingest.writer).

May import: `txmon.console` and the rooms below it; not `txmon.ops`.
"""
