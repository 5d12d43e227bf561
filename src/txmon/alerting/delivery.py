"""Delivering what the outbox queued: claim a due row, send it through its channel, record the
outcome in the row.

The row stays locked (FOR UPDATE SKIP LOCKED) while it is sent, so two dispatchers never send
it at once and a dispatcher killed mid-send leaves it pending, to be sent again with the same
dedup key. Its retry state is in the row: attempts, the next attempt's time and the last error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg

from txmon.alerting.notification import NOTIFICATION_FIELDS, Channel, DeliveryError, Notification
from txmon.core.config import Delivery, Settings
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import dict_rows

_CLAIM_SQL = f"""
select notification_id, channel, attempts, {", ".join(NOTIFICATION_FIELDS)}
from {PUBLIC_SCHEMA}.alert_log as candidate
where status = 'pending' and next_attempt_at <= now()
  -- Per channel, an episode's notifications go out in the order they were queued: a retried
  -- ALERT must not be overtaken by its own RECOVERY (Alertmanager would fire it again).
  and not exists (
      select from {PUBLIC_SCHEMA}.alert_log as earlier
      where earlier.channel = candidate.channel
        and earlier.episode_id = candidate.episode_id
        and earlier.status = 'pending'
        and earlier.notification_id < candidate.notification_id)
order by next_attempt_at, notification_id
for update of candidate skip locked
limit 1
"""

_FAILED_SQL = f"""
update {PUBLIC_SCHEMA}.alert_log
set attempts = %(attempts)s, last_error = %(error)s, updated_at = now(),
    status = case when %(retry)s then 'pending' else 'failed' end,
    next_attempt_at = now() + make_interval(secs => %(delay)s)
where notification_id = %(id)s
"""

_SENT_SQL = f"""
update {PUBLIC_SCHEMA}.alert_log
set status = 'sent', attempts = %(attempts)s, sent_at = now(), updated_at = now(),
    last_error = null
where notification_id = %(id)s
"""

# The longest error text kept in the log.
ERROR_TEXT_LIMIT = 1000


@dataclass(frozen=True)
class DeliveryResult:
    sent: int
    failed: int
    waiting: int


def retry_delay_seconds(delivery: Delivery, attempts: int, retry_after: float | None) -> float:
    """Exponential backoff after `attempts` tries, or the server's Retry-After when that is
    longer; never beyond retry_max_seconds."""
    backoff = delivery.retry_base_seconds * 2 ** max(attempts - 1, 0)
    return min(max(backoff, retry_after or 0.0), delivery.retry_max_seconds)


def _deliver_one(
    conn: psycopg.Connection, channels: dict[str, Channel], delivery: Delivery
) -> str | None:
    """Claim, send and record one due notification; None when nothing is due."""
    with conn.transaction():
        claimed = dict_rows(conn, _CLAIM_SQL)
        if not claimed:
            return None
        row = claimed[0]
        attempts = row["attempts"] + 1
        channel = channels.get(row["channel"])
        try:
            if channel is None:
                raise DeliveryError(
                    f"channel {row['channel']!r} is not configured any more", retryable=False
                )
            channel.send(Notification.from_row(row))
        except DeliveryError as error:
            retry = error.retryable and attempts < delivery.max_attempts
            conn.execute(
                _FAILED_SQL,
                {
                    "attempts": attempts,
                    "error": str(error)[:ERROR_TEXT_LIMIT],
                    "retry": retry,
                    "delay": retry_delay_seconds(delivery, attempts, error.retry_after),
                    "id": row["notification_id"],
                },
            )
            return "retry" if retry else "failed"
        conn.execute(_SENT_SQL, {"attempts": attempts, "id": row["notification_id"]})
        return "sent"


def _next_due_in(conn: psycopg.Connection) -> float | None:
    with conn.transaction():
        seconds = conn.execute(
            "select extract(epoch from min(next_attempt_at) - now())"
            f" from {PUBLIC_SCHEMA}.alert_log where status = 'pending'"
        ).fetchone()[0]  # type: ignore[index]
    return None if seconds is None else max(float(seconds), 0.0)


def deliver_pending(
    conn: psycopg.Connection,
    settings: Settings,
    channels: Sequence[Channel],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Send what is due; wait for retries due within max_wait_seconds, then stop."""
    by_name = {channel.name: channel for channel in channels}
    deadline = time.monotonic() + settings.delivery.max_wait_seconds
    sent = failed = 0
    while True:
        outcome = _deliver_one(conn, by_name, settings.delivery)
        if outcome == "sent":
            sent += 1
        elif outcome == "failed":
            failed += 1
        if outcome is not None:
            continue
        due_in = _next_due_in(conn)
        if due_in is None or time.monotonic() + due_in > deadline:
            break
        sleep(due_in + 0.01)
    with conn.transaction():
        waiting = conn.execute(
            f"select count(*) from {PUBLIC_SCHEMA}.alert_log where status = 'pending'"
        ).fetchone()[0]  # type: ignore[index]
    return DeliveryResult(sent, failed, int(waiting))
