"""`txmon superset up|down|status` before anything is installed: where it would listen, and
what status and down say when nothing runs."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers import TXMON
from txmon.ops.superset.commands import configured_port
from txmon.ops.superset.home import SupersetError, SupersetHome

pytest_plugins = ["superset_fixtures"]


def test_the_port_comes_from_the_option_else_the_environment_else_8088(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TXMON_SUPERSET_PORT", raising=False)
    assert configured_port(None) == 8088
    monkeypatch.setenv("TXMON_SUPERSET_PORT", "9099")
    assert configured_port(None) == 9099
    assert configured_port(7077) == 7077
    for bad in ("0", "65536", "http", "-1"):
        monkeypatch.setenv("TXMON_SUPERSET_PORT", bad)
        with pytest.raises(SupersetError, match="TXMON_SUPERSET_PORT must be a port"):
            configured_port(None)


def test_status_and_down_when_nothing_runs(superset_home: SupersetHome) -> None:
    env = {**os.environ}
    status = subprocess.run([TXMON, "superset", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 3
    assert "not running" in status.stdout
    down = subprocess.run([TXMON, "superset", "down"], env=env, capture_output=True, text=True)
    assert down.returncode == 0
    assert "was not running" in down.stdout
