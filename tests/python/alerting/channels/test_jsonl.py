"""The JSON Lines channel."""

from __future__ import annotations

import json
from pathlib import Path

from alerting_helpers import EXPECTED_PAYLOAD, NOTIFICATION, notification, one, send_error
from txmon.alerting.channels.jsonl import JsonlChannel


def test_jsonl_appends_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "notifications.jsonl"
    channel = one({"type": "jsonl", "name": "file", "path": str(path)})
    assert isinstance(channel, JsonlChannel)
    channel.send(NOTIFICATION)
    second = notification(dedup_key="k2", event_type="RECOVERY", severity="HEALTHY", value=None)
    channel.send(second)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == EXPECTED_PAYLOAD
    assert json.loads(lines[1])["dedup_key"] == "k2"
    assert json.loads(lines[1])["value"] is None

    # A new channel object (a restarted dispatcher) appends, never truncates.
    one({"type": "jsonl", "path": str(path)}).send(NOTIFICATION)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


def test_jsonl_failure_is_a_delivery_error(tmp_path: Path) -> None:
    folder = tmp_path / "is-a-folder"
    folder.mkdir()
    error = send_error(one({"type": "jsonl", "path": str(folder)}))
    assert error.retryable is False
    assert "JSON Lines" in str(error)
    assert str(folder) not in str(error)
