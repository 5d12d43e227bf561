"""Looking back over the history without sending anything: `txmon dispatch --replay` (what a
live dispatcher would have sent) and the plan a backfill asks to confirm. Both read in a
read-only transaction, with the same rules as the outbox (`txmon.alerting.outbox`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg

from txmon.alerting.notification import Channel
from txmon.alerting.outbox import LogRow, alerted_episodes, count_open_episodes, planned_rows
from txmon.alerting.silences import Silence, read_silences
from txmon.core.config import Settings
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA, episode_minute
from txmon.db.connection import connect
from txmon.pipeline.build_state import VIEWS_MISSING, has_relation


@contextmanager
def _reading_history(url: str) -> Iterator[tuple[psycopg.Connection, list[Silence]]]:
    """A read-only transaction on built views, with the silences in force."""
    with connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("set transaction read only")
        if not has_relation(conn, "alert_events"):
            raise TxmonError(VIEWS_MISSING)
        yield conn, read_silences(conn) if has_relation(conn, "alert_silences") else []


@dataclass(frozen=True)
class Replay:
    """What a live dispatcher would have done over the whole history: every row it would
    have logged, oldest first, pending ones being those it would have sent."""

    rows: list[LogRow]
    latest_minute_at: datetime | None

    @property
    def to_send(self) -> list[LogRow]:
        return [row for row in self.rows if row.status == "pending"]

    def text(self) -> str:
        sent = Counter(row.notification.event_type for row in self.to_send)
        held = Counter(row.suppressed_reason for row in self.rows if row.status != "pending")
        episodes = {row.notification.episode_id for row in self.to_send}
        parts = [
            f"would send {len(self.to_send)}"
            + (f" ({', '.join(f'{k} {n}' for k, n in sorted(sent.items()))})" if sent else "")
            + f" for {len(episodes)} episodes",
            f"would log {sum(held.values())} as suppressed"
            + (f" ({'; '.join(f'{k}: {n}' for k, n in sorted(held.items()))})" if held else ""),
        ]
        return "replay (nothing written): " + ", ".join(parts)


def replay_history(url: str, settings: Settings, channels: Sequence[Channel]) -> Replay:
    """Every notification of the history, judged as a live dispatcher running every minute
    would have judged it (silences included; no event is too old when it is new), in a
    read-only transaction: the log, the silences and the run records stay as they were."""
    with _reading_history(url) as (conn, silences):
        latest, rows, _ = planned_rows(
            conn, settings, channels, mode="replay", silences=silences, alerted=set()
        )
    return Replay(rows, latest)


@dataclass(frozen=True)
class BackfillPlan:
    """What `txmon dispatch --backfill` would log as handled: the rows not in the log yet."""

    new_rows: int
    open_episodes: int
    latest_minute_at: datetime | None

    def question(self) -> str:
        through = episode_minute(self.latest_minute_at) if self.latest_minute_at else "now"
        return (
            f"Log {self.new_rows} notifications up to {through} as handled, sending none? "
            f"{self.open_episodes} episodes are still open: their next escalation or recovery "
            "will be sent"
        )


def plan_backfill(url: str, settings: Settings, channels: Sequence[Channel]) -> BackfillPlan:
    """What a backfill would write, read without writing (for the confirmation)."""
    with _reading_history(url) as (conn, silences):
        has_log = has_relation(conn, "alert_log")
        alerted = alerted_episodes(conn) if has_log else set()
        latest, rows, _ = planned_rows(
            conn, settings, channels, mode="backfill", silences=silences, alerted=alerted
        )
        logged = (
            set(conn.execute(f"select dedup_key, channel from {PUBLIC_SCHEMA}.alert_log"))
            if has_log
            else set()
        )
    new_rows = sum((row.notification.dedup_key, row.channel) not in logged for row in rows)
    return BackfillPlan(new_rows, count_open_episodes(rows), latest)
