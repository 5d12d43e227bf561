"""What every channel shares: the severity filter."""

from __future__ import annotations

import pytest

from alerting_helpers import notification, one


@pytest.mark.parametrize(
    ("event_type", "severity", "accepted"),
    [
        ("ALERT", "INFO", False),
        ("ESCALATION", "WARNING", False),
        ("ESCALATION", "CRITICAL", True),
        ("REMINDER", "SEVERE", True),
        ("REMINDER", "WARNING", False),
        ("RECOVERY", "HEALTHY", True),
        ("STALE", "WARNING", True),
        ("ALERT", "UNHEARD_OF", True),  # delivered rather than silently dropped
    ],
)
def test_min_severity_filters_alerts_but_never_recoveries(
    event_type: str, severity: str, accepted: bool
) -> None:
    channel = one({"type": "stdout", "min_severity": "critical"})
    assert channel.min_severity == "CRITICAL"
    assert channel.accepts(notification(event_type=event_type, severity=severity)) is accepted


def test_by_default_every_alert_is_accepted() -> None:
    assert one({"type": "stdout"}).accepts(notification(event_type="ALERT", severity="INFO"))
