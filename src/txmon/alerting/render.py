"""How a notification reads: one text line, a Slack Block Kit message, an e-mail's subject and
body, and the JSON payload that webhooks and JSON Lines files get."""

from __future__ import annotations

import json
from typing import Any

from txmon import __version__
from txmon.alerting.notification import Notification
from txmon.core.facts import severity_rank
from txmon.core.formatting import (
    NOT_AVAILABLE,
    finite,
    format_minute_label,
    format_utc,
    format_value,
)

# One emoji per severity rank, HEALTHY (0) first; a rank past the end takes the last one.
SEVERITY_EMOJI = (
    ":white_check_mark:",
    ":information_source:",
    ":warning:",
    ":red_circle:",
    ":rotating_light:",
)
UNKNOWN_SEVERITY_EMOJI = ":grey_question:"
# Slack rejects a header block longer than this.
SLACK_HEADER_LIMIT = 150


def severity_emoji(severity: str) -> str:
    rank = severity_rank(severity)
    if rank is None:
        return UNKNOWN_SEVERITY_EMOJI
    return SEVERITY_EMOJI[min(rank, len(SEVERITY_EMOJI) - 1)]


def one_line(text: str) -> str:
    """Whitespace runs as single spaces: newlines would break the one-line stdout format and
    are forbidden in e-mail headers."""
    return " ".join(str(text).split())


def _minutes(notification: Notification) -> str:
    minutes = notification.episode_minutes
    return NOT_AVAILABLE if minutes is None else str(minutes)


def _severity_change(notification: Notification) -> str:
    previous = notification.previous_severity
    return notification.severity + (f" (was {previous})" if previous else "")


def _comparison(notification: Notification) -> str:
    metric = notification.metric_name
    text = f"value {format_value(metric, notification.value)}"
    if finite(notification.threshold) is not None:
        text += f" vs threshold {format_value(metric, notification.threshold)}"
    return text


def render_text(notification: Notification) -> str:
    """One human line, e.g. `[WARNING] failed_rate ESCALATION at 2025-07-15 12:47Z: ...`."""
    n = notification
    details = [_comparison(n)]
    if finite(n.baseline) is not None:
        details.append(f"baseline {format_value(n.metric_name, n.baseline)}")
    if n.previous_severity:
        details.append(f"was {n.previous_severity}")
    return one_line(
        f"[{n.severity}] {n.metric_name} {n.event_type} at {format_minute_label(n.minute_at)}: "
        f"{n.message} ({', '.join(details)})"
    )


def notification_payload(notification: Notification) -> dict[str, Any]:
    """Every Notification field as JSON-ready values (minute_at as ISO 8601 UTC with Z)."""
    n = notification
    return {
        "dedup_key": n.dedup_key,
        "metric_name": n.metric_name,
        "episode_id": n.episode_id,
        "event_type": n.event_type,
        "severity": n.severity,
        "previous_severity": n.previous_severity,
        "minute_at": format_utc(n.minute_at),
        "episode_minutes": None if n.episode_minutes is None else int(n.episode_minutes),
        "value": finite(n.value),
        "threshold": finite(n.threshold),
        "baseline": finite(n.baseline),
        "message": n.message,
    }


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: a retry sends exactly the bytes that were signed the first time."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def _slack_escape(text: str) -> str:
    # Slack treats &, < and > as control characters in every text object.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notification: Notification) -> dict[str, Any]:
    """A Block Kit message for a Slack incoming webhook, with a plain `text` fallback."""
    n = notification
    headline = one_line(f"{severity_emoji(n.severity)} {n.severity} {n.metric_name} {n.event_type}")
    summary = _comparison(n)
    if finite(n.baseline) is not None:
        summary += f" (baseline {format_value(n.metric_name, n.baseline)})"
    fields = [
        ("Severity", _severity_change(n)),
        ("Metric", n.metric_name),
        ("Event", n.event_type),
        ("Minute (UTC)", format_minute_label(n.minute_at)),
        ("Minutes", _minutes(n)),
        ("Value", summary),
    ]
    header_text = {"type": "plain_text", "text": headline[:SLACK_HEADER_LIMIT], "emoji": True}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": header_text},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{_slack_escape(n.message)}*\n{_slack_escape(summary)}",
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"}
                for label, value in fields
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _slack_escape(f"txmon · {n.dedup_key}")}],
        },
    ]
    return {"text": _slack_escape(render_text(n)), "blocks": blocks}


def email_subject(notification: Notification) -> str:
    n = notification
    return one_line(f"[txmon] {n.severity} {n.metric_name} {n.event_type}")


def email_body(notification: Notification) -> str:
    """The text line, then one labelled detail per line, then a signature."""
    n = notification
    rows = [
        ("Severity", _severity_change(n)),
        ("Metric", n.metric_name),
        ("Event", n.event_type),
        ("Minute (UTC)", format_utc(n.minute_at)),
        ("Minutes", _minutes(n)),
        ("Value", format_value(n.metric_name, n.value)),
        ("Threshold", format_value(n.metric_name, n.threshold)),
        ("Baseline", format_value(n.metric_name, n.baseline)),
        ("Episode", n.episode_id or NOT_AVAILABLE),
        ("Message", n.message),
        ("Dedup key", n.dedup_key),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [render_text(n), ""]
    lines += [f"{label + ':':<{width}}{one_line(value)}" for label, value in rows]
    lines += ["", "-- ", f"Sent by txmon {__version__}", ""]
    return "\n".join(lines)
