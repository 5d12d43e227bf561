"""How a notification reads: one text line, a Slack Block Kit message, a Teams Adaptive Card, an
e-mail's subject and body, and the JSON payload that webhooks and JSON Lines files get."""

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
    format_minutes,
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
# The Adaptive Card colour of a headline per severity rank, HEALTHY (0) first, as the emoji.
SEVERITY_CARD_COLOUR = ("good", "accent", "warning", "attention")
UNKNOWN_SEVERITY_CARD_COLOUR = "default"
ADAPTIVE_CARD_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams renders Adaptive Cards up to 1.5 on the desktop, older versions on mobile clients.
ADAPTIVE_CARD_VERSION = "1.4"
# Slack rejects a header block longer than this.
SLACK_HEADER_LIMIT = 150


def severity_emoji(severity: str) -> str:
    return _by_rank(severity, SEVERITY_EMOJI, UNKNOWN_SEVERITY_EMOJI)


def _by_rank(severity: str, choices: tuple[str, ...], unknown: str) -> str:
    """The choice for a severity's rank; a rank past the end takes the last one."""
    rank = severity_rank(severity)
    if rank is None:
        return unknown
    return choices[min(rank, len(choices) - 1)]


def one_line(text: str) -> str:
    """Whitespace runs as single spaces: newlines would break the one-line stdout format and
    are forbidden in e-mail headers."""
    return " ".join(str(text).split())


def _minutes(notification: Notification) -> str:
    minutes = notification.episode_minutes
    return NOT_AVAILABLE if minutes is None else format_minutes(minutes)


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
        f"[{n.severity}] {n.subject} {n.event_type} at {format_minute_label(n.minute_at)}: "
        f"{n.message} ({', '.join(details)})"
    )


def notification_payload(notification: Notification) -> dict[str, Any]:
    """Every Notification field as JSON-ready values (minute_at as ISO 8601 UTC with Z)."""
    n = notification
    return {
        "dedup_key": n.dedup_key,
        "metric_name": n.metric_name,
        "dimension": n.dimension,
        "dimension_value": n.dimension_value,
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


def _value_summary(notification: Notification) -> str:
    """`value 4.12% vs threshold 2.00% (baseline 1.10%)`."""
    n = notification
    summary = _comparison(n)
    if finite(n.baseline) is not None:
        summary += f" (baseline {format_value(n.metric_name, n.baseline)})"
    return summary


def _facts(notification: Notification) -> list[tuple[str, str]]:
    """The labelled details a chat message shows beside its headline."""
    n = notification
    return [
        ("Severity", _severity_change(n)),
        ("Metric", n.subject),
        ("Event", n.event_type),
        ("Minute (UTC)", format_minute_label(n.minute_at)),
        ("Minutes", _minutes(n)),
        ("Value", _value_summary(n)),
    ]


def _headline(notification: Notification) -> str:
    n = notification
    return one_line(f"{n.severity} {n.subject} {n.event_type}")


def slack_message(notification: Notification) -> dict[str, Any]:
    """A Block Kit message for a Slack incoming webhook, with a plain `text` fallback."""
    n = notification
    headline = f"{severity_emoji(n.severity)} {_headline(n)}"
    summary = _value_summary(n)
    fields = _facts(n)
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


def teams_message(notification: Notification) -> dict[str, Any]:
    """A message with one Adaptive Card, as a Teams workflow ("When a Teams webhook request is
    received") posts it to a channel or chat."""
    n = notification
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "fallbackText": render_text(n),
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": _headline(n),
                "size": "Large",
                "weight": "Bolder",
                "color": _by_rank(n.severity, SEVERITY_CARD_COLOUR, UNKNOWN_SEVERITY_CARD_COLOUR),
                "wrap": True,
            },
            {"type": "TextBlock", "text": one_line(n.message), "weight": "Bolder", "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": one_line(value)} for label, value in _facts(n)],
            },
            {
                "type": "TextBlock",
                "text": f"txmon · {n.dedup_key}",
                "size": "Small",
                "isSubtle": True,
                "wrap": True,
            },
        ],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_TYPE, "contentUrl": None, "content": card}],
    }


def email_subject(notification: Notification) -> str:
    n = notification
    return one_line(f"[txmon] {n.severity} {n.subject} {n.event_type}")


def email_body(notification: Notification) -> str:
    """The text line, then one labelled detail per line, then a signature."""
    n = notification
    rows = [
        ("Severity", _severity_change(n)),
        ("Metric", n.subject),
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
