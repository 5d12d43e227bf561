"""The monitoring API (`txmon serve`).

app.py assembles it: the routers of routes/ (one module per concern), the gate of middleware.py
(bearer token, body size, a default content-security policy), the error answers of errors.py
and the documentation pages of docs.py (Swagger UI and ReDoc from local files). Routes get the
database and the [ingest] rules from dependencies.py; they answer with models.py (the domain
dataclasses, served as they are, and the few wire-only shapes). POST /transactions validates
with field_types.py (the CSV loader's field rules as pydantic types) and batches.py (the batch,
its limits, writing it through txmon.ingest.writer, as a load under its Idempotency-Key when
it has one).

May import: `txmon.console` and the rooms below it; not `txmon.ops`.
"""
