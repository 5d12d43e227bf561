"""How a notification reads: the text line, Slack blocks, the e-mail and the JSON payload."""

from __future__ import annotations

import json
import math

import pytest

from alerting_helpers import EXPECTED_PAYLOAD, NOTIFICATION, notification
from txmon import __version__
from txmon.alerting.render import (
    canonical_json,
    email_body,
    email_subject,
    notification_payload,
    render_text,
    severity_emoji,
    slack_message,
)
from txmon.core.facts import severity_order


def test_render_text_is_one_line_with_the_details() -> None:
    text = render_text(NOTIFICATION)
    assert text == (
        "[WARNING] failed_rate ESCALATION at 2025-07-15 13:16Z: FAILED_RATE anomaly persisted "
        "for 30 minutes (value 4.12% vs threshold 2.00%, baseline 1.10%, was INFO)"
    )
    volume = render_text(
        notification(metric_name="volume", value=1234.0, threshold=2000.5, baseline=None)
    )
    assert "value 1234 vs threshold 2000.50" in volume
    assert "\n" not in render_text(notification(message="two\nlines"))


def test_payload_has_every_field_and_no_nan() -> None:
    assert notification_payload(NOTIFICATION) == EXPECTED_PAYLOAD
    payload = notification_payload(notification(value=math.nan, threshold=math.inf))
    assert payload["value"] is None and payload["threshold"] is None
    body = canonical_json(payload)
    assert body == canonical_json(json.loads(body))  # the same bytes every time
    assert body.startswith(b'{"baseline":')  # keys sorted


def test_slack_message_blocks() -> None:
    body = slack_message(NOTIFICATION)
    assert body["text"] == render_text(NOTIFICATION)
    header, summary, details, context = body["blocks"]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert header["text"]["text"] == ":warning: WARNING failed_rate ESCALATION"
    assert summary["type"] == "section"
    assert "value 4.12% vs threshold 2.00%" in summary["text"]["text"]
    assert details["type"] == "section"
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in details["fields"]}
    assert fields["*Severity*"] == "WARNING (was INFO)"
    assert fields["*Metric*"] == "failed_rate"
    assert fields["*Event*"] == "ESCALATION"
    assert fields["*Minutes*"] == "30 min"
    assert fields["*Value*"].startswith("value 4.12% vs threshold 2.00%")
    assert context["type"] == "context"


def test_slack_formats_volume_and_escapes_text() -> None:
    message = slack_message(
        notification(
            metric_name="volume",
            severity="SEVERE",
            value=15.0,
            threshold=120.25,
            message="VOLUME <drop> & more",
        )
    )
    assert message["blocks"][0]["text"]["text"].startswith(":rotating_light: SEVERE")
    summary = message["blocks"][1]["text"]["text"]
    assert "VOLUME &lt;drop&gt; &amp; more" in summary
    assert "value 15 vs threshold 120.25" in summary


def test_slack_header_is_cut_to_slacks_limit() -> None:
    message = slack_message(notification(metric_name="x" * 300))
    assert len(message["blocks"][0]["text"]["text"]) == 150


def test_every_severity_has_its_own_emoji() -> None:
    emojis = [severity_emoji(name) for name in severity_order()]
    assert len(set(emojis)) == len(emojis)
    assert severity_emoji("LOUD") == ":grey_question:"


def test_email_subject_and_body() -> None:
    assert email_subject(NOTIFICATION) == "[txmon] WARNING failed_rate ESCALATION"
    assert "\n" not in email_subject(notification(metric_name="a\nb"))
    body = email_body(NOTIFICATION)
    assert body.startswith(render_text(NOTIFICATION) + "\n\n")
    for detail in (
        "Severity:     WARNING (was INFO)",
        "Value:        4.12%",
        "Threshold:    2.00%",
        "Baseline:     1.10%",
        "Minutes:      30",
        "Minute (UTC): 2025-07-15T13:16:00Z",
        f"Dedup key:    {NOTIFICATION.dedup_key}",
        f"Episode:      {NOTIFICATION.episode_id}",
    ):
        assert detail in body
    assert body.endswith(f"-- \nSent by txmon {__version__}\n")


@pytest.mark.parametrize("field", ["episode_minutes", "episode_id", "baseline"])
def test_missing_details_read_n_a(field: str) -> None:
    body = email_body(notification(**{field: None}))
    label = {"episode_minutes": "Minutes", "episode_id": "Episode", "baseline": "Baseline"}[field]
    assert any(line.startswith(f"{label}:") and line.endswith("n/a") for line in body.split("\n"))
