"""The stdout channel."""

from __future__ import annotations

import sys

import pytest

from alerting_helpers import NOTIFICATION, one, send_error
from txmon.alerting.render import render_text


def test_stdout_prints_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    channel = one({"type": "stdout"})
    assert channel.name == "stdout"
    channel.send(NOTIFICATION)
    assert capsys.readouterr().out == render_text(NOTIFICATION) + "\n"


def test_a_closed_stdout_is_a_delivery_error(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = open("/dev/null", "w")  # noqa: SIM115 - closed on purpose
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)
    error = send_error(one({"type": "stdout"}))
    assert (str(error), error.retryable) == ("cannot write to stdout: ValueError", False)
