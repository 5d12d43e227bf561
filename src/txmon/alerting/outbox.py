"""The alert dispatcher: queue notifications in a transactional outbox, then deliver them.

Queueing reads the public views (alert_events, metric_status, metric_minutes) and writes one
row per notification and channel into monitoring.alert_log under a unique dedup key, so any
number of runs, rebuilds or concurrent dispatchers queue each notification once. Delivery
claims pending rows with FOR UPDATE SKIP LOCKED and keeps the row locked while it sends: a
dispatcher killed mid-send leaves the row pending and the next run sends it again with the same
key (at least once, never lost). Timeouts, connection errors, 429 and 5xx are retried with
exponential backoff; other failures, or too many attempts, mark the row failed with the error.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row

from txmon.alerting.channels import Channel, DeliveryError, Notification
from txmon.core.config import Delivery, Rules, Settings
from txmon.core.errors import TxmonError
from txmon.pipeline.views import VIEWS_MISSING, has_relation

NOTIFICATION_FIELDS = (
    "dedup_key",
    "metric_name",
    "episode_id",
    "event_type",
    "severity",
    "previous_severity",
    "minute_at",
    "consecutive_minutes",
    "value",
    "threshold",
    "baseline",
    "message",
)

_EVENTS_SQL = """
select alert_event_id as dedup_key, metric_name, episode_id, event_type, severity,
       previous_severity, minute_at, consecutive_minutes, value, threshold, baseline, message
from monitoring.alert_events
"""

# A reminder every repeat_interval minutes after an episode reached CRITICAL, while it stays
# at CRITICAL or above; the reminder's number is part of its dedup key.
_REMINDERS_SQL = """
with critical as (
    select s.*
    from monitoring.metric_status as s
    where s.is_in_episode
      and s.severity_rank >= (
          select severity_rank from txmon.severity_levels where severity = 'CRITICAL'
      )
),
critical_since as (
    select episode_id, min(minute_at) as critical_at
    from critical
    group by episode_id
),
due as (
    select critical.*,
           (extract(epoch from critical.minute_at - critical_since.critical_at) / 60)::integer
               as minutes_critical
    from critical
    inner join critical_since using (episode_id)
)
select episode_id || ':REMINDER:' || (minutes_critical / %(interval)s) as dedup_key,
       metric_name, episode_id, 'REMINDER' as event_type, severity,
       severity as previous_severity, minute_at, episode_minutes as consecutive_minutes,
       value, threshold, baseline,
       upper(metric_name) || ' still ' || severity || ' after ' || episode_minutes || ' minutes'
           as message
from due
where minutes_critical > 0 and minutes_critical %% %(interval)s = 0
"""

_INSERT_SQL = """
insert into monitoring.alert_log (
    dedup_key, channel, metric_name, episode_id, event_type, severity, previous_severity,
    minute_at, consecutive_minutes, value, threshold, baseline, message, status,
    suppressed_reason
) values (
    %(dedup_key)s, %(channel)s, %(metric_name)s, %(episode_id)s, %(event_type)s, %(severity)s,
    %(previous_severity)s, %(minute_at)s, %(consecutive_minutes)s, %(value)s, %(threshold)s,
    %(baseline)s, %(message)s, %(status)s, %(suppressed_reason)s
)
on conflict (dedup_key, channel) do nothing
"""

_CLAIM_SQL = """
select notification_id, channel, attempts, {fields}
from monitoring.alert_log
where status = 'pending' and next_attempt_at <= now()
order by next_attempt_at, notification_id
for update skip locked
limit 1
""".format(fields=", ".join(NOTIFICATION_FIELDS))


@dataclass(frozen=True)
class QueueResult:
    queued: int
    suppressed: int
    latest_minute_at: datetime | None
    is_stale: bool


@dataclass(frozen=True)
class DeliveryResult:
    sent: int
    failed: int
    waiting: int


@dataclass(frozen=True)
class Silence:
    metric_pattern: str
    starts_at: datetime
    ends_at: datetime
    reason: str

    def matches(self, notification: Notification) -> bool:
        return self.starts_at <= notification.minute_at < self.ends_at and fnmatch.fnmatchcase(
            notification.metric_name, self.metric_pattern
        )


def ensure_alert_tables(conn: psycopg.Connection) -> None:
    ddl = resources.files("txmon").joinpath("sql/alerting.sql").read_text()
    conn.execute("select pg_advisory_xact_lock(hashtext('txmon.alert_tables'))")
    conn.execute(ddl)


def _rows(conn: psycopg.Connection, sql: str, params: dict[str, Any] | None = None) -> list[dict]:
    try:
        with conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(sql, params or {}).fetchall())
    except psycopg.errors.UndefinedTable as error:
        raise TxmonError(VIEWS_MISSING) from error


def _notification(row: dict[str, Any]) -> Notification:
    return Notification(**{name: row[name] for name in NOTIFICATION_FIELDS})


def candidate_notifications(conn: psycopg.Connection, rules: Rules) -> list[Notification]:
    """Every notification the data call for, old or new: the log decides what is new."""
    rows = _rows(conn, _EVENTS_SQL)
    if rules.repeat_interval_minutes > 0:
        rows += _rows(conn, _REMINDERS_SQL, {"interval": rules.repeat_interval_minutes})
    return sorted((_notification(row) for row in rows), key=lambda n: (n.minute_at, n.dedup_key))


def system_notification(
    dedup_key: str,
    subject: str,
    event_type: str,
    minute_at: datetime,
    minutes: int | None,
    message: str,
) -> Notification:
    """A CRITICAL notification about txmon itself (stale data, failing builds), not a metric."""
    return Notification(
        dedup_key=dedup_key,
        metric_name=subject,
        episode_id=None,
        event_type=event_type,
        severity="CRITICAL",
        previous_severity=None,
        minute_at=minute_at,
        consecutive_minutes=minutes,
        value=None,
        threshold=None,
        baseline=None,
        message=message,
    )


def stale_notification(
    latest_minute_at: datetime | None, now: datetime, rules: Rules
) -> Notification | None:
    """A STALE alert when the newest minute is older than stale_after_minutes (0 = never)."""
    if latest_minute_at is None or rules.stale_after_minutes <= 0:
        return None
    lag = now - (latest_minute_at + timedelta(minutes=1))
    if lag <= timedelta(minutes=rules.stale_after_minutes):
        return None
    minutes = int(lag.total_seconds() // 60)
    stamp = latest_minute_at.strftime("%Y-%m-%dT%H:%MZ")
    return system_notification(
        f"data@{stamp}:STALE",
        "data",
        "STALE",
        latest_minute_at,
        minutes,
        f"No new data for {minutes} minutes: the latest minute is {stamp}; "
        "metrics are not being judged",
    )


def _was_stale(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select is_stale from monitoring.dispatch_runs where mode = 'live'"
        " order by run_id desc limit 1"
    ).fetchone()
    return bool(row and row[0])


def _silences(conn: psycopg.Connection) -> list[Silence]:
    rows = _rows(
        conn, "select metric_pattern, starts_at, ends_at, reason from monitoring.alert_silences"
    )
    return [Silence(**row) for row in rows]


def _alerted_episodes(conn: psycopg.Connection) -> set[tuple[str | None, str]]:
    """(episode, channel) pairs with an alert sent or on its way: a RECOVERY needs one."""
    rows = conn.execute(
        "select distinct episode_id, channel from monitoring.alert_log"
        " where event_type <> 'RECOVERY' and status in ('pending', 'sent')"
    ).fetchall()
    return {(episode_id, channel) for episode_id, channel in rows}


def _disposition(
    notification: Notification,
    *,
    replay: bool,
    send: bool,
    oldest_sendable: datetime | None,
    silences: Sequence[Silence],
) -> tuple[str, str | None]:
    if replay and not send:
        return "suppressed", "replay"
    silence = next((silence for silence in silences if silence.matches(notification)), None)
    if silence is not None:
        return "suppressed", f"silenced: {silence.reason}"
    if (
        not replay
        and oldest_sendable is not None
        and notification.event_type != "STALE"
        and notification.minute_at < oldest_sendable
    ):
        return "suppressed", "older than max_event_age_minutes when first seen"
    return "pending", None


def queue_notifications(
    conn: psycopg.Connection,
    settings: Settings,
    channels: Sequence[Channel],
    *,
    replay: bool = False,
    send: bool = False,
    extra: Sequence[Notification] = (),
) -> QueueResult:
    """Write what is new into the outbox, in one transaction with the run's own record.
    `extra` are notifications the caller raises itself (the scheduler's failed builds)."""
    with conn.transaction():
        ensure_alert_tables(conn)
        # One queuer at a time; a second one then finds everything already logged.
        conn.execute("select pg_advisory_xact_lock(hashtext('txmon.alerting.outbox.queue'))")
        has_views = has_relation(conn, "alert_events")
        if not has_views and not extra:
            raise TxmonError(VIEWS_MISSING)
        # Without the views (no build has passed yet) only the caller's own alerts can go out.
        latest, now = conn.execute(
            "select (select max(minute_at) from monitoring.metric_minutes), now()"
            if has_views
            else "select null::timestamptz, now()"
        ).fetchone()  # type: ignore[misc]
        notifications = candidate_notifications(conn, settings.rules) if has_views else []
        notifications.extend(extra)
        stale = None if replay else stale_notification(latest, now, settings.rules)
        # One STALE per stale period: the first run that finds the data stale raises it.
        if stale is not None and not _was_stale(conn):
            notifications.append(stale)
        oldest_sendable = (
            latest - timedelta(minutes=settings.rules.max_event_age_minutes) if latest else None
        )
        silences = _silences(conn)
        alerted = _alerted_episodes(conn)
        rows = []
        for notification in notifications:
            status, reason = _disposition(
                notification,
                replay=replay,
                send=send,
                oldest_sendable=oldest_sendable,
                silences=silences,
            )
            for channel in channels:
                if not channel.accepts(notification):
                    continue
                row_status, row_reason = status, reason
                episode = (notification.episode_id, channel.name)
                is_recovery = notification.event_type == "RECOVERY"
                if is_recovery and row_status == "pending" and episode not in alerted:
                    row_status, row_reason = "suppressed", "no alert was sent for this episode"
                elif not is_recovery and row_status == "pending":
                    alerted.add(episode)
                rows.append(
                    {
                        **{name: getattr(notification, name) for name in NOTIFICATION_FIELDS},
                        "channel": channel.name,
                        "status": row_status,
                        "suppressed_reason": row_reason,
                    }
                )
        queued = suppressed = 0
        with conn.cursor() as cursor:
            for row in rows:
                cursor.execute(_INSERT_SQL, row)
                if cursor.rowcount == 1:
                    if row["status"] == "pending":
                        queued += 1
                    else:
                        suppressed += 1
        conn.execute(
            "insert into monitoring.dispatch_runs"
            " (mode, latest_minute_at, queued, suppressed, is_stale) values (%s, %s, %s, %s, %s)",
            ("replay" if replay else "live", latest, queued, suppressed, stale is not None),
        )
    return QueueResult(queued, suppressed, latest, stale is not None)


def _backoff_seconds(delivery: Delivery, attempts: int) -> float:
    return min(delivery.retry_base_seconds * 2 ** max(attempts - 1, 0), delivery.retry_max_seconds)


def _deliver_one(
    conn: psycopg.Connection, channels: dict[str, Channel], delivery: Delivery
) -> str | None:
    """Claim, send and record one due notification; None when nothing is due."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(_CLAIM_SQL).fetchone()
        if row is None:
            return None
        attempts = row["attempts"] + 1
        channel = channels.get(row["channel"])
        try:
            if channel is None:
                raise DeliveryError(
                    f"channel {row['channel']!r} is not configured any more", retryable=False
                )
            channel.send(_notification(row))
        except DeliveryError as error:
            retry = error.retryable and attempts < delivery.max_attempts
            cursor.execute(
                """
                update monitoring.alert_log
                set attempts = %(attempts)s, last_error = %(error)s, updated_at = now(),
                    status = case when %(retry)s then 'pending' else 'failed' end,
                    next_attempt_at = now() + make_interval(secs => %(delay)s)
                where notification_id = %(id)s
                """,
                {
                    "attempts": attempts,
                    "error": str(error)[:1000],
                    "retry": retry,
                    "delay": max(
                        _backoff_seconds(delivery, attempts),
                        min(error.retry_after or 0, delivery.retry_max_seconds),
                    ),
                    "id": row["notification_id"],
                },
            )
            return "retry" if retry else "failed"
        cursor.execute(
            """
            update monitoring.alert_log
            set status = 'sent', attempts = %s, sent_at = now(), updated_at = now(),
                last_error = null
            where notification_id = %s
            """,
            (attempts, row["notification_id"]),
        )
        return "sent"


def _next_due_in(conn: psycopg.Connection) -> float | None:
    with conn.transaction():
        seconds = conn.execute(
            "select extract(epoch from min(next_attempt_at) - now())"
            " from monitoring.alert_log where status = 'pending'"
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
            "select count(*) from monitoring.alert_log where status = 'pending'"
        ).fetchone()[0]  # type: ignore[index]
    return DeliveryResult(sent, failed, int(waiting))


def channel_names(channels: Iterable[Channel]) -> list[str]:
    return [channel.name for channel in channels]


@dataclass(frozen=True)
class DispatchSummary:
    queue: QueueResult
    delivery: DeliveryResult | None

    def text(self) -> str:
        parts = [f"queued {self.queue.queued}", f"suppressed {self.queue.suppressed}"]
        if self.delivery is not None:
            parts += [
                f"sent {self.delivery.sent}",
                f"failed {self.delivery.failed}",
                f"waiting for retry {self.delivery.waiting}",
            ]
        if self.queue.is_stale:
            parts.append("data are STALE")
        return "dispatch: " + ", ".join(parts)


def run_dispatch(
    url: str,
    settings: Settings,
    channels: Sequence[Channel],
    *,
    replay: bool = False,
    send: bool = False,
    extra: Sequence[Notification] = (),
) -> DispatchSummary:
    """Queue what is new (or the whole history with replay), then deliver unless replaying
    without send. Each step commits on its own, so a crash loses nothing already queued."""
    from txmon.db.connection import connect

    with connect(url, autocommit=True) as conn:
        queue = queue_notifications(conn, settings, channels, replay=replay, send=send, extra=extra)
        delivery = None
        if not replay or send:
            delivery = deliver_pending(conn, settings, channels)
    return DispatchSummary(queue, delivery)
