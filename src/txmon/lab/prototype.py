"""The prototype's monitor and dispatcher, minute by minute, as a yardstick.

txmon keeps the prototype's model in SQL (baseline_mode 'prototype') for the /monitor figures. What
the SQL cannot show is how the prototype behaved live: each call recomputed mean + 3 * sample
std over every minute loaded so far, counted back from the latest minute, and its dispatcher
sent an ALERT whenever the severity differed from the last one sent and a RECOVERY on HEALTHY.
`replay_alerts` reproduces that, so the notification counts of both systems can be compared.
The tiers are txmon's (the severity_levels seed), the same numbers the prototype had.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from txmon.core.facts import HEALTHY, severity_levels

METRICS = ("failed", "denied", "reversed")


@dataclass(frozen=True)
class PrototypeAlert:
    minute: str
    metric: str
    event: str
    severity: str
    consecutive_minutes: int


def severity(consecutive_minutes: int) -> str:
    """The highest tier whose minutes the run has reached."""
    reached = [
        level.name
        for level in severity_levels()
        if level.rank > 0 and consecutive_minutes >= level.min_minutes
    ]
    return reached[-1] if reached else HEALTHY


def minute_rates(path: Path) -> tuple[list[str], dict[str, list[float]]]:
    """Per-minute rates of the prototype: status count over all statuses, 0 without traffic."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with path.open(newline="") as source:
        for row in csv.DictReader(source):
            counts[row["timestamp"]][row["status"].strip().lower()] += int(row["count"])
    minutes = sorted(counts)
    rates: dict[str, list[float]] = {metric: [] for metric in METRICS}
    for minute in minutes:
        total = sum(counts[minute].values())
        for metric in METRICS:
            rates[metric].append(counts[minute][metric] / total if total else 0.0)
    return minutes, rates


def verdict(series: Sequence[float]) -> tuple[float, int]:
    """The prototype's threshold over the whole series and the run above it at its end."""
    count = len(series)
    mean = math.fsum(series) / count
    variance = math.fsum((value - mean) ** 2 for value in series) / (count - 1) if count > 1 else 0
    threshold = mean + 3 * math.sqrt(variance)
    consecutive = 0
    for value in reversed(series):
        if value <= threshold:
            break
        consecutive += 1
    return threshold, consecutive


def replay_alerts(path: Path) -> list[PrototypeAlert]:
    """The prototype's notifications had /monitor been called once a minute."""
    minutes, rates = minute_rates(path)
    alerts: list[PrototypeAlert] = []
    for metric in METRICS:
        series = rates[metric]
        last_sent = HEALTHY
        total = total_squares = 0.0
        for index, value in enumerate(series):
            # Running sums keep the expanding mean and std linear in the number of minutes.
            total += value
            total_squares += value * value
            count = index + 1
            mean = total / count
            variance = (
                max((total_squares - count * mean * mean) / (count - 1), 0) if count > 1 else 0
            )
            threshold = mean + 3 * math.sqrt(variance)
            consecutive = 0
            for earlier in reversed(series[: index + 1]):
                if earlier <= threshold:
                    break
                consecutive += 1
            level = severity(consecutive)
            if level == last_sent:
                continue
            event = "RECOVERY" if level == HEALTHY else "ALERT"
            alerts.append(PrototypeAlert(minutes[index], metric, event, level, consecutive))
            last_sent = level
    return sorted(alerts, key=lambda alert: (alert.minute, alert.metric))


def summarise(alerts: Iterable[PrototypeAlert]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for alert in alerts:
        totals[alert.event] += 1
    return dict(totals)
