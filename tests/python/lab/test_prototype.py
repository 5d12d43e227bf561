"""The prototype's live behaviour, reproduced as a yardstick (no database needed)."""

from __future__ import annotations

from pathlib import Path

from txmon.core.facts import HEALTHY, severity_levels
from txmon.lab import prototype


def test_verdict_counts_back_from_the_latest_minute() -> None:
    series = [0.0] * 30 + [1.0] * 3
    threshold, consecutive = prototype.verdict(series)
    assert 0 < threshold < 1
    assert consecutive == 3


def test_severity_follows_the_seed_tiers() -> None:
    assert [prototype.severity(minutes) for minutes in (0, 14, 15, 30, 45, 60, 600)] == [
        "HEALTHY",
        "HEALTHY",
        "INFO",
        "WARNING",
        "CRITICAL",
        "SEVERE",
        "SEVERE",
    ]
    for level in severity_levels():
        assert prototype.severity(level.min_minutes) == level.name
        if level.min_minutes:
            assert prototype.severity(level.min_minutes - 1) != level.name
    assert prototype.severity(0) == HEALTHY


def write_counts(path: Path, failed_shares: list[float]) -> None:
    lines = ["timestamp,status,count"]
    for minute, share in enumerate(failed_shares):
        stamp = f"2025-01-01 {minute // 60:02d}:{minute % 60:02d}:00"
        lines += [
            f"{stamp},approved,{round(100 * (1 - share))}",
            f"{stamp},failed,{round(100 * share)}",
        ]
    path.write_text("\n".join(lines) + "\n")


def test_replay_alerts_once_per_severity_change(tmp_path: Path) -> None:
    path = tmp_path / "counts.csv"
    write_counts(path, [0.0] * 1000 + [1.0] * 35 + [0.0] * 10)
    alerts = prototype.replay_alerts(path)
    assert [(a.metric, a.event, a.severity, a.consecutive_minutes) for a in alerts] == [
        ("failed", "ALERT", "INFO", 15),
        ("failed", "ALERT", "WARNING", 30),
        ("failed", "RECOVERY", "HEALTHY", 0),
    ]


def test_replay_misses_an_anomaly_that_inflates_its_own_threshold(tmp_path: Path) -> None:
    """The prototype's blind spot: an anomaly longer than a few percent of the data."""
    path = tmp_path / "counts.csv"
    write_counts(path, [0.0] * 100 + [1.0] * 40)
    assert prototype.replay_alerts(path) == []
