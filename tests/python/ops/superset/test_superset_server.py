"""Superset's server process, without starting Superset: refusals before anything starts and
state left by a server that is gone."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from txmon.ops.superset.home import SupersetError, SupersetFiles, SupersetHome
from txmon.ops.superset.server import ServerInfo, is_healthy, server_info, start_server

pytest_plugins = ["superset_fixtures"]


def test_a_taken_port_is_refused_before_anything_starts(superset_home: SupersetHome) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SupersetError, match=f"port {port} on 127.0.0.1 is taken"):
            start_server(superset_home, SupersetFiles.current(), "127.0.0.1", port)
    assert not superset_home.state_file.exists()


def test_the_state_of_a_server_that_is_gone_is_forgotten(superset_home: SupersetHome) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    superset_home.root.mkdir(parents=True)
    state = {"pid": gone.pid, "host": "127.0.0.1", "port": 1, "config_digest": ""}
    superset_home.state_file.write_text(json.dumps(state))
    assert server_info(superset_home) is None
    assert not superset_home.state_file.exists()


def test_nothing_listening_is_not_healthy() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert not is_healthy(ServerInfo(pid=0, host="127.0.0.1", port=port, config_digest=""))
    info = ServerInfo(pid=1, host="127.0.0.1", port=8088, config_digest="")
    assert info.dashboard_url == "http://127.0.0.1:8088/superset/dashboard/transaction-monitoring/"
