"""The outbox: what is new goes into the alert log, one row per notification and channel,
then `txmon.alerting.delivery` sends it; `run_dispatch` does both.

Queueing reads the public views (alert_events, metric_status, metric_minutes) and writes each
row under a unique dedup key, so any number of runs, rebuilds or concurrent dispatchers queue
each notification once. A row enters the log pending, or suppressed with the reason (a silence,
an event too old when first seen, a recovery from an alert nobody was sent, a backfill).

Three modes share one set of rules (`_disposition`, `_log_rows`): live (queue what is new and
deliver it), backfill (log the whole history as handled, send nothing; an episode still open
then counts as alerted, so its next escalation and its recovery are sent) and replay
(`txmon.alerting.history`: what a live dispatcher would have sent over the history, read in a
transaction that writes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg

from txmon.alerting.delivery import DeliveryResult, deliver_pending
from txmon.alerting.notification import NOTIFICATION_FIELDS, Channel, Notification
from txmon.alerting.schema import ensure_alert_tables
from txmon.alerting.silences import Silence, read_silences
from txmon.core.config import Rules, Settings
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA, episode_minute, severity_rank
from txmon.core.formatting import format_minutes
from txmon.db.connection import connect, dict_rows
from txmon.pipeline.build_state import VIEWS_MISSING, has_relation

# The tier from which an episode is urgent: reminders repeat while it lasts, and txmon's own
# alerts (stale data, failing builds) carry it.
URGENT_SEVERITY = "CRITICAL"

# live: queue what is new and deliver it; backfill: log the history as handled, send nothing;
# replay: say what live dispatching would have sent over the history, write nothing.
Mode = Literal["live", "backfill", "replay"]
# The reason a backfilled row carries. Such a row counts as an alert that went out: the
# history was handled elsewhere, so an open episode's next changes are sent.
BACKFILL_REASON = "backfill: handled before live dispatching"

# What is paged, per incident (grouped episodes, the default) or per episode: the same fields
# either way, the incident standing where the episode would.
_EVENTS_SQL = {
    "incident": f"""
select incident_event_id as dedup_key, metric_name, incident_id as episode_id, event_type,
       severity, previous_severity, minute_at, incident_minutes as episode_minutes, value,
       threshold, baseline, message, dimension, dimension_value
from {PUBLIC_SCHEMA}.incident_events
""",
    "episode": f"""
select alert_event_id as dedup_key, metric_name, episode_id, event_type, severity,
       previous_severity, minute_at, episode_minutes, value, threshold, baseline, message,
       dimension, dimension_value
from {PUBLIC_SCHEMA}.alert_events
""",
}

# What a reminder is counted for: the incident an urgent episode belongs to, or the episode.
_PAGED_UNITS = {
    "incident": (
        "incident_episodes.incident_id",
        f"inner join {PUBLIC_SCHEMA}.incident_episodes using (episode_id)",
    ),
    "episode": ("s.episode_id", ""),
}

# A reminder every repeat_interval minutes after an incident (or episode) became urgent, while
# it stays urgent; the reminder's number is part of its dedup key. Of several urgent members in
# one minute, the worst speaks.
_REMINDERS_SQL = """
with urgent as (
    select s.*, {unit} as paged_id
    from {schema}.metric_status as s
    {join}
    where s.is_in_episode and s.severity_rank >= %(urgent_rank)s
),
urgent_since as (
    select paged_id, min(minute_at) as urgent_at
    from urgent
    group by paged_id
),
due as (
    select urgent.*,
           (extract(epoch from urgent.minute_at - urgent_since.urgent_at) / 60)::integer
               as minutes_urgent
    from urgent
    inner join urgent_since using (paged_id)
)
select distinct on (dedup_key)
       paged_id || ':REMINDER:' || (minutes_urgent / %(interval)s) as dedup_key,
       metric_name, paged_id as episode_id, 'REMINDER' as event_type, severity,
       severity as previous_severity, minute_at, episode_minutes, value, threshold, baseline,
       '' as message, dimension, dimension_value
from due
where minutes_urgent > 0 and minutes_urgent %% %(interval)s = 0
order by dedup_key, severity_rank desc, metric_name
"""

_INSERT_SQL = f"""
insert into {PUBLIC_SCHEMA}.alert_log (
    {", ".join(NOTIFICATION_FIELDS)}, channel, status, suppressed_reason
) values (
    {", ".join(f"%({name})s" for name in NOTIFICATION_FIELDS)},
    %(channel)s, %(status)s, %(suppressed_reason)s
)
on conflict (dedup_key, channel) do nothing
"""


@dataclass(frozen=True)
class QueueResult:
    queued: int
    suppressed: int
    latest_minute_at: datetime | None
    is_stale: bool
    mode: Mode = "live"
    # Episodes still open when a backfill marked their history handled.
    open_episodes: int = 0


def _urgent_rank() -> int:
    rank = severity_rank(URGENT_SEVERITY)
    if rank is None:
        raise TxmonError(f"the severity_levels seed has no {URGENT_SEVERITY} tier")
    return rank


def candidate_notifications(conn: psycopg.Connection, rules: Rules) -> list[Notification]:
    """Every notification the data call for, old or new: the log decides what is new."""
    rows = dict_rows(conn, _EVENTS_SQL[rules.notify_per])
    if rules.repeat_interval_minutes > 0:
        params = {"interval": rules.repeat_interval_minutes, "urgent_rank": _urgent_rank()}
        unit, join = _PAGED_UNITS[rules.notify_per]
        sql = _REMINDERS_SQL.format(unit=unit, join=join, schema=PUBLIC_SCHEMA)
        for reminder in dict_rows(conn, sql, params):
            length = format_minutes(reminder["episode_minutes"])
            label = Notification.from_row(reminder).label
            reminder["message"] = f"{label} still {reminder['severity']} after {length}"
            rows.append(reminder)
    notifications = [Notification.from_row(row) for row in rows]
    return sorted(notifications, key=lambda n: (n.minute_at, n.dedup_key))


def system_notification(
    dedup_key: str,
    subject: str,
    event_type: str,
    minute_at: datetime,
    minutes: int | None,
    message: str,
) -> Notification:
    """An urgent notification about txmon itself (stale data, failing builds), not a metric."""
    return Notification(
        dedup_key=dedup_key,
        metric_name=subject,
        episode_id=None,
        event_type=event_type,
        severity=URGENT_SEVERITY,
        previous_severity=None,
        minute_at=minute_at,
        episode_minutes=minutes,
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
    stamp = episode_minute(latest_minute_at)
    return system_notification(
        f"data@{stamp}:STALE",
        "data",
        "STALE",
        latest_minute_at,
        minutes,
        f"No new data for {format_minutes(minutes)}: the latest minute is {stamp}; "
        "metrics are not being judged",
    )


def _was_stale(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        f"select is_stale from {PUBLIC_SCHEMA}.dispatch_runs where mode = 'live'"
        " order by run_id desc limit 1"
    ).fetchone()
    return bool(row and row[0])


def alerted_episodes(conn: psycopg.Connection) -> set[tuple[str | None, str]]:
    """(episode, channel) pairs with an alert sent, on its way or backfilled as handled: a
    RECOVERY needs one."""
    rows = conn.execute(
        f"select distinct episode_id, channel from {PUBLIC_SCHEMA}.alert_log"
        " where event_type <> 'RECOVERY'"
        "   and (status in ('pending', 'sent') or suppressed_reason = %s)",
        (BACKFILL_REASON,),
    ).fetchall()
    return {(episode_id, channel) for episode_id, channel in rows}


def _disposition(
    notification: Notification,
    *,
    mode: Mode,
    oldest_sendable: datetime | None,
    silences: Sequence[Silence],
) -> tuple[str, str | None]:
    """The status a new notification enters the log with, and why it is not sent if not.
    A replay judges each event as a live dispatcher would have when it was new."""
    silence = next((silence for silence in silences if silence.matches(notification)), None)
    if silence is not None:
        return "suppressed", f"silenced: {silence.reason}"
    if mode == "backfill":
        return "suppressed", BACKFILL_REASON
    if (
        mode == "live"
        and oldest_sendable is not None
        and notification.event_type != "STALE"
        and notification.minute_at < oldest_sendable
    ):
        return "suppressed", "older than max_event_age_minutes when first seen"
    return "pending", None


@dataclass(frozen=True)
class LogRow:
    """A notification for one channel, with the status it enters the log with (pending: to
    be sent) and why it is not sent if not."""

    notification: Notification
    channel: str
    status: str
    suppressed_reason: str | None

    def params(self) -> dict[str, Any]:
        return {
            **{name: getattr(self.notification, name) for name in NOTIFICATION_FIELDS},
            "channel": self.channel,
            "status": self.status,
            "suppressed_reason": self.suppressed_reason,
        }


def _log_rows(
    notifications: Sequence[Notification],
    channels: Sequence[Channel],
    dispositions: Sequence[tuple[str, str | None]],
    alerted: set[tuple[str | None, str]],
) -> list[LogRow]:
    """One row per notification and accepting channel. A RECOVERY goes only where an alert of
    its episode went (or was backfilled as handled): recovering from an alert nobody saw is
    noise."""
    rows = []
    for notification, (status, reason) in zip(notifications, dispositions, strict=True):
        for channel in channels:
            if not channel.accepts(notification):
                continue
            row_status, row_reason = status, reason
            episode = (notification.episode_id, channel.name)
            is_recovery = notification.event_type == "RECOVERY"
            counts_as_alert = row_status == "pending" or row_reason == BACKFILL_REASON
            if is_recovery and row_status == "pending" and episode not in alerted:
                row_status, row_reason = "suppressed", "no alert was sent for this episode"
            elif not is_recovery and counts_as_alert:
                alerted.add(episode)
            rows.append(LogRow(notification, channel.name, row_status, row_reason))
    return rows


def count_open_episodes(rows: Sequence[LogRow]) -> int:
    """Episodes with alerts among the rows and no recovery yet."""
    alerted = {row.notification.episode_id for row in rows if row.notification.episode_id}
    recovered = {
        row.notification.episode_id for row in rows if row.notification.event_type == "RECOVERY"
    }
    return len(alerted - recovered)


def _what_is_due(
    conn: psycopg.Connection, rules: Rules, *, mode: Mode, extra: Sequence[Notification]
) -> tuple[datetime | None, list[Notification], Notification | None]:
    """The newest minute, every notification the data and the caller ask for, and the STALE
    alert when the data are stale (it is among the notifications only if it is new)."""
    has_views = has_relation(conn, "alert_events")
    if not has_views and not extra:
        raise TxmonError(VIEWS_MISSING)
    try:
        # Without the views (no build has passed yet) only the caller's own alerts can go out.
        # The newest minute is the published one (current_status): one index range, where the
        # newest of metric_minutes read every stored minute each cycle.
        latest, now = conn.execute(
            f"select (select max(current_minute_at) from {PUBLIC_SCHEMA}.current_status), now()"
            if has_views
            else "select null::timestamptz, now()"
        ).fetchone()  # type: ignore[misc]
        notifications = candidate_notifications(conn, rules) if has_views else []
    except psycopg.errors.UndefinedTable as error:
        # A view dropped between the check and the read: the same as no views at all.
        raise TxmonError(VIEWS_MISSING) from error
    notifications.extend(extra)
    stale = stale_notification(latest, now, rules) if mode == "live" else None
    # One STALE per stale period: the first run that finds the data stale raises it.
    if stale is not None and not _was_stale(conn):
        notifications.append(stale)
    return latest, notifications, stale


def planned_rows(
    conn: psycopg.Connection,
    settings: Settings,
    channels: Sequence[Channel],
    *,
    mode: Mode,
    silences: Sequence[Silence],
    alerted: set[tuple[str | None, str]],
    extra: Sequence[Notification] = (),
) -> tuple[datetime | None, list[LogRow], Notification | None]:
    """The newest minute, every row the data call for (old or new) with the status it would
    enter the log with, and the STALE alert when the data are stale (live mode only)."""
    rules = settings.rules
    latest, notifications, stale = _what_is_due(conn, rules, mode=mode, extra=extra)
    oldest_sendable = latest - timedelta(minutes=rules.max_event_age_minutes) if latest else None
    dispositions = [
        _disposition(notification, mode=mode, oldest_sendable=oldest_sendable, silences=silences)
        for notification in notifications
    ]
    return latest, _log_rows(notifications, channels, dispositions, alerted), stale


def queue_notifications(
    conn: psycopg.Connection,
    settings: Settings,
    channels: Sequence[Channel],
    *,
    backfill: bool = False,
    extra: Sequence[Notification] = (),
) -> QueueResult:
    """Write what is new into the outbox, in one transaction with the run's own record.
    `extra` are notifications the caller raises itself (the scheduler's failed builds).
    With `backfill`, everything enters the log as handled and nothing is sent."""
    mode: Mode = "backfill" if backfill else "live"
    with conn.transaction():
        ensure_alert_tables(conn)
        # One queuer at a time; a second one then finds everything already logged.
        conn.execute("select pg_advisory_xact_lock(hashtext('txmon.alerting.outbox.queue'))")
        latest, rows, stale = planned_rows(
            conn,
            settings,
            channels,
            mode=mode,
            silences=read_silences(conn),
            alerted=alerted_episodes(conn),
            extra=extra,
        )
        queued = suppressed = 0
        with conn.cursor() as cursor:
            for row in rows:
                cursor.execute(_INSERT_SQL, row.params())
                if cursor.rowcount == 1:
                    if row.status == "pending":
                        queued += 1
                    else:
                        suppressed += 1
        conn.execute(
            f"insert into {PUBLIC_SCHEMA}.dispatch_runs"
            " (mode, latest_minute_at, queued, suppressed, is_stale) values (%s, %s, %s, %s, %s)",
            (mode, latest, queued, suppressed, stale is not None),
        )
    open_episodes = count_open_episodes(rows) if backfill else 0
    return QueueResult(queued, suppressed, latest, stale is not None, mode, open_episodes)


@dataclass(frozen=True)
class DispatchSummary:
    queue: QueueResult
    delivery: DeliveryResult | None

    def text(self) -> str:
        if self.queue.mode == "backfill":
            return (
                f"backfill: logged {self.queue.suppressed} notifications as handled, sent none;"
                f" {self.queue.open_episodes} episodes still open will have their next"
                " escalation or recovery sent"
            )
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
    backfill: bool = False,
    extra: Sequence[Notification] = (),
) -> DispatchSummary:
    """Queue what is new, then deliver it; with `backfill`, log the whole history as handled
    and deliver nothing. Each step commits on its own, so a crash loses nothing queued."""
    with connect(url, autocommit=True) as conn:
        queue = queue_notifications(conn, settings, channels, backfill=backfill, extra=extra)
        delivery = None if backfill else deliver_pending(conn, settings, channels)
    return DispatchSummary(queue, delivery)
