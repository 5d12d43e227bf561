"""What the Alertmanager, PagerDuty and Teams channels share with the others: one clear line for
every configuration mistake, and no secret in the alert log, an error or a log line, whatever
the receiver does."""

from __future__ import annotations

import logging
import tomllib
import traceback
from datetime import UTC, datetime
from typing import Any

import pytest

from alerting_helpers import Certificate, WebServer, closed_port
from conftest import REPO_ROOT
from helpers import rows
from txmon.alerting.channels.config import CHANNEL_TYPES, build_channels
from txmon.alerting.outbox import run_dispatch, system_notification
from txmon.core.config import Delivery, Rules, Settings
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA

pytest_plugins = ["alerting_fixtures"]

AM = {"type": "alertmanager", "url": "https://am.example.com:9093"}
PD = {"type": "pagerduty", "routing_key_env": "KEY"}
KEY = {"KEY": "pd-routing-key"}


def test_the_new_types_are_known() -> None:
    assert {"alertmanager", "pagerduty", "teams"} <= set(CHANNEL_TYPES)


def test_every_channel_example_of_the_settings_file_builds() -> None:
    text = (REPO_ROOT / "txmon.example.toml").read_text()
    # The examples are commented-out [[channels]] tables, one paragraph each.
    examples = [
        "\n".join(line.removeprefix("# ") for line in paragraph.splitlines())
        for paragraph in text.split("\n\n")
        if paragraph.startswith("# [[channels]]")
    ]
    configs = tomllib.loads("\n\n".join(examples))["channels"]
    environ = {
        value: "https://hooks.example.com/T0/B0" if value.endswith("_URL") else "s3cret"
        for config in configs
        for key, value in config.items()
        if key.endswith("_env")
    }
    channels = build_channels(configs, environ)
    assert {"alertmanager", "pagerduty", "teams"} <= {channel.name for channel in channels}


@pytest.mark.parametrize(
    ("config", "environ", "expected"),
    [
        (
            {"type": "alertmanager"},
            {},
            "channel 'alertmanager' (alertmanager): missing url (set url or url_env)",
        ),
        ({**AM, "url": "am:9093"}, {}, "url must be an http:// or https:// URL"),
        ({"type": "alertmanager", "url_env": "AM"}, {}, "variable AM (named by url_env)"),
        ({**AM, "labels": {"severity": "page"}}, {}, "labels: txmon sets 'severity'"),
        ({**AM, "labels": {"alertname": "x"}}, {}, "labels: txmon sets 'alertname'"),
        ({**AM, "labels": {"team-name": "x"}}, {}, "labels: 'team-name' is not a label name"),
        ({**AM, "labels": {"__meta": "x"}}, {}, "labels: '__meta' is not a label name"),
        ({**AM, "labels": {"team": " "}}, {}, "labels: team must be a non-empty string"),
        ({**AM, "labels": {"team": 1}}, {}, "labels must be a table of label names"),
        ({**AM, "labels": ["team"]}, {}, "labels must be a table of label names"),
        ({**AM, "resolve_after_minutes": 0}, {}, "resolve_after_minutes must be greater than 0"),
        ({**AM, "resolve_after_minutes": "1d"}, {}, "resolve_after_minutes must be a whole number"),
        ({**AM, "generator_url": "txmon"}, {}, "generator_url must be an http:// or https:// URL"),
        ({**AM, "password": "pw"}, {}, "do not put a password in the config file"),
        ({**AM, "bearer_token": "t"}, {}, "set bearer_token_env to the name of an environment"),
        ({**AM, "username": "u"}, {}, "username needs password_env"),
        ({**AM, "password_env": "PW"}, {"PW": "pw"}, "password_env needs username"),
        ({**AM, "bearer_token_env": "T"}, {}, "environment variable T (named by bearer_token_env)"),
        (
            {**AM, "username": "u", "password_env": "PW", "bearer_token_env": "T"},
            {"PW": "pw", "T": "t"},
            "set either username and password_env or bearer_token_env, not both",
        ),
        (
            {**AM, "url": "http://am:9093", "bearer_token_env": "T"},
            {"T": "t"},
            "basic auth and bearer tokens need an https:// url",
        ),
        ({**AM, "route": "x"}, {}, "unknown key 'route' (allowed: bearer_token_env, ca_file,"),
        (
            {"type": "pagerduty"},
            {},
            "channel 'pagerduty' (pagerduty): missing routing_key_env (the environment variable",
        ),
        ({**PD, "routing_key": "k"}, KEY, "do not put the routing key in the config file"),
        ({**PD, "routing_key_env": "NO"}, {}, "variable NO (named by routing_key_env) is not set"),
        ({**PD, "routing_key_env": "E"}, {"E": ""}, "is not set or empty"),
        ({**PD, "url": "events.pagerduty.com"}, KEY, "url must be an http:// or https:// URL"),
        ({**PD, "url_env": "NOPE"}, KEY, "environment variable NOPE (named by url_env)"),
        ({**PD, "client_url": "ftp://x"}, KEY, "client_url must be an http:// or https:// URL"),
        ({**PD, "source": ""}, KEY, "source must be a non-empty string"),
        ({**PD, "severity": "x"}, KEY, "unknown key 'severity'"),
        ({"type": "teams"}, {}, "channel 'teams' (teams): missing webhook_url"),
        ({"type": "teams", "webhook_url_env": "T"}, {}, "environment variable T"),
        ({"type": "teams", "webhook_url": "https://u:p@x.test/"}, {}, "must not contain user:"),
        ({"type": "teams", "webhook_url": "https://x.test/", "min_severity": "x"}, {}, "min_sev"),
    ],
)
def test_bad_config_is_one_clear_line(
    config: dict[str, Any], environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(TxmonError) as caught:
        build_channels([config], environ)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    # Nothing chained: a validation error would print the values given, secrets among them.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


ROUTING_KEY = "pd-R0uting-S3cret-key"
BEARER_TOKEN = "am-Bearer-S3cret-token"
AM_PASSWORD = "am-Pa55word-S3cret"
TEAMS_SIG = "teams-S1gnature-S3cret"
SECRETS = [ROUTING_KEY, BEARER_TOKEN, AM_PASSWORD, TEAMS_SIG, "S3cret"]


def test_no_secret_reaches_the_alert_log_errors_or_logs(
    database_url: str,
    web: WebServer,
    tls_web: WebServer,
    certificate: Certificate,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = f"https://127.0.0.1:{closed_port()}"
    teams_path = f"/workflows/1/triggers/manual/paths/invoke?sig={TEAMS_SIG}"
    for name, value in {
        "PD_KEY": ROUTING_KEY,
        "AM_TOKEN": BEARER_TOKEN,
        "AM_PASSWORD": AM_PASSWORD,
        "TEAMS_URL": web.url + teams_path,
        "DEAD_TEAMS_URL": dead + teams_path,
    }.items():
        monkeypatch.setenv(name, value)
    tls = {"ca_file": str(certificate.cert)}
    configs: list[dict[str, Any]] = [
        {"type": "pagerduty", "name": "pd", "url": web.url, "routing_key_env": "PD_KEY"},
        {"type": "pagerduty", "name": "pd-dead", "url": dead, "routing_key_env": "PD_KEY"},
        {"type": "alertmanager", "name": "am", "url": tls_web.url, "bearer_token_env": "AM_TOKEN"}
        | tls,
        {"type": "alertmanager", "name": "am-dead", "url": dead, "bearer_token_env": "AM_TOKEN"},
        {"type": "alertmanager", "name": "am-basic", "url": tls_web.url, "username": "txmon"}
        | {"password_env": "AM_PASSWORD"}
        | tls,
        {"type": "teams", "name": "teams", "webhook_url_env": "TEAMS_URL"},
        {"type": "teams", "name": "teams-dead", "webhook_url_env": "DEAD_TEAMS_URL"},
    ]
    web.default = tls_web.default = 503
    settings = Settings(
        rules=Rules(stale_after_minutes=0, notify_per="episode"),
        delivery=Delivery(max_attempts=1, max_wait_seconds=0),
        channels=tuple(configs),
    )
    channels = build_channels(settings.channels)
    alert = system_notification(
        "pipeline@2025-07-15T13:16Z:BUILD_FAILED",
        "pipeline",
        "BUILD_FAILED",
        datetime(2025, 7, 15, 13, 16, tzinfo=UTC),
        None,
        "builds fail",
    )
    summary = run_dispatch(database_url, settings, channels, extra=[alert])
    assert summary.delivery is not None and summary.delivery.failed == len(configs)

    logged = dict(rows(database_url, f"select channel, last_error from {PUBLIC_SCHEMA}.alert_log"))
    assert logged == {
        "pd": "HTTP 503 from PagerDuty",
        "pd-dead": logged["pd-dead"],
        "am": "HTTP 503 from Alertmanager",
        "am-dead": logged["am-dead"],
        "am-basic": "HTTP 503 from Alertmanager",
        "teams": "HTTP 503 from Teams workflow",
        "teams-dead": logged["teams-dead"],
    }
    assert logged["pd-dead"].startswith("PagerDuty unreachable: ")
    assert logged["am-dead"].startswith("Alertmanager unreachable: ")
    assert logged["teams-dead"].startswith("Teams workflow unreachable: ")
    # The credentials did reach the receivers, and nowhere else.
    assert (web.requests[0].body.decode() + str(tls_web.requests[0].headers)).count("S3cret") == 2
    texts = [str(logged), caplog.text, *(repr(channel) for channel in channels)]
    texts += ["".join(traceback.format_exception(error)) for error in _errors(channels, alert)]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, text


def _errors(channels: list[Any], alert: Any) -> list[BaseException]:
    """What each channel raises when it sends now (every receiver fails)."""
    errors = []
    for channel in channels:
        try:
            channel.send(alert)
        except Exception as error:
            errors.append(error)
    assert len(errors) == len(channels)
    return errors
