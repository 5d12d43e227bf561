"""What the evaluation tests share: the incidents planted in their traffic, and labels for them
(the database itself is `evaluation_fixtures.built_traffic`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from txmon.lab import generate

START = datetime(2025, 7, 12)
# A surge that must page, and a burst too short to be worth a page.
SURGE = generate.Incident("denied_surge", START + timedelta(hours=20), 40, 0.35)
BURST = generate.Incident("failed_burst", START + timedelta(hours=28), 6, 0.2)
LABELS_HEADER = "metric,start,minutes,must_page,kind\n"


@dataclass(frozen=True)
class Built:
    url: str
    home: Path
    labels: Path  # the surge must page, the burst need not


def label_line(incident: generate.Incident, must_page: bool) -> str:
    start = f"{incident.started_at:%Y-%m-%d %H:%M}"
    return (
        f"{incident.metric},{start},{incident.minutes},{str(must_page).lower()},{incident.kind}\n"
    )
