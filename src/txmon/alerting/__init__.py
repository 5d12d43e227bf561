"""From alert events to delivered notifications.

- `notification`: the Notification, DeliveryError and the Channel protocol.
- `render`: how a notification reads (text, Slack, Teams, e-mail, JSON payload).
- `transport`: the HTTP POST (httpx) and TLS settings the channels use.
- `channels/`: one module per channel kind, and `channels.config` that builds them from
  the [[channels]] settings.
- `outbox`: queueing in the alert log; `delivery`: sending it, with retries kept in the
  database; `history`: replay and the backfill's plan, read without writing.
- `silences`: planned quiet. `log`: reading and exporting the alert log.
- `schema`: the alerting tables (`alerting.sql`).

May import: `txmon.pipeline`, `txmon.ingest`, `txmon.db`, `txmon.core`.
"""
