"""The [[channels]] tables: defaults, one clear line for every mistake, secrets from the
environment and kept out of every text a channel or its errors produce."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alerting_helpers import (
    NOTIFICATION,
    PATH_TOKEN,
    SIGNING_SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpServer,
    WebServer,
    closed_port,
    email_config,
    send_error,
)
from txmon.alerting.channels.config import CHANNEL_TYPES, build_channels
from txmon.alerting.channels.email import EmailChannel
from txmon.alerting.channels.jsonl import JsonlChannel
from txmon.alerting.channels.webhook import WebhookChannel
from txmon.core.errors import TxmonError
from txmon.core.facts import alerting_severities

pytest_plugins = ["alerting_fixtures"]


def test_build_channels_defaults_and_names(tmp_path: Path) -> None:
    channels = build_channels(
        [
            {"type": "stdout"},
            {"type": "jsonl", "path": str(tmp_path / "a.jsonl")},
            {"type": "jsonl", "name": "archive", "path": str(tmp_path / "b.jsonl")},
            {"type": "webhook", "url": "https://example.com/hook"},
            {"type": "email", "host": "h", "from": "a@x.test", "to": "b@x.test"},
            {"type": "email", "name": "smtps", "host": "h", "from": "a@x.test", "to": ["b@x.test"]}
            | {"ssl": True},
        ],
        environ={},
    )
    assert [c.name for c in channels] == ["stdout", "jsonl", "archive", "webhook", "email", "smtps"]
    assert all(c.min_severity == "INFO" for c in channels)
    jsonl, webhook, mail, smtps = channels[1], channels[3], channels[4], channels[5]
    assert isinstance(jsonl, JsonlChannel) and jsonl.path == tmp_path / "a.jsonl"
    assert isinstance(webhook, WebhookChannel)
    assert (webhook.timeout_seconds, webhook.verify_tls) == (10, True)
    assert isinstance(mail, EmailChannel) and isinstance(smtps, EmailChannel)
    assert (mail.port, mail.starttls, mail.use_ssl, mail.timeout_seconds) == (587, True, False, 30)
    assert (smtps.port, smtps.starttls, smtps.use_ssl) == (465, False, True)
    assert mail.to_addrs == ["b@x.test"]
    assert build_channels([], {}) == []


def test_jsonl_path_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (channel,) = build_channels([{"type": "jsonl", "path": "~/out.jsonl"}], {})
    assert isinstance(channel, JsonlChannel) and channel.path == tmp_path / "out.jsonl"


MAIL = {"type": "email", "host": "h", "from": "a@x.test", "to": ["b@x.test"]}
HOOK = {"type": "webhook", "url": "https://x.test/hook"}
SEVERITIES = ", ".join(alerting_severities())


@pytest.mark.parametrize(
    ("configs", "environ", "expected"),
    [
        (
            [{"type": "pager"}],
            {},
            f"channels[0]: unknown type 'pager' (one of {', '.join(CHANNEL_TYPES)})",
        ),
        ([{"name": "x"}], {}, "channels[0]: missing type"),
        (
            [{"type": "webhook"}],
            {},
            "channel 'webhook' (webhook): missing url (set url or url_env)",
        ),
        ([{"type": "slack"}], {}, "missing webhook_url"),
        ([{"type": "webhook", "url_env": "NOPE"}], {}, "environment variable NOPE"),
        ([{"type": "webhook", "url_env": "EMPTY"}], {"EMPTY": ""}, "is not set or empty"),
        ([{**HOOK, "secret_env": "NOPE"}], {}, "environment variable NOPE (named by secret_env)"),
        ([{**HOOK, "url_env": "U"}], {"U": "https://y.test/"}, "either url or url_env"),
        ([{**HOOK, "url": "ftp://x.test/"}], {}, "http:// or https://"),
        ([{**HOOK, "url": "https://u:p@x.test/"}], {}, "url must not contain user:password@"),
        ([{**HOOK, "url": "https://x.test:99999/"}], {}, "url has an invalid port"),
        ([{**HOOK, "url": ""}], {}, "url must be a non-empty string"),
        ([{**HOOK, "timeout_seconds": 0}], {}, "timeout_seconds must be greater than 0"),
        ([{**HOOK, "timeout_seconds": "5"}], {}, "timeout_seconds must be a number"),
        ([{**HOOK, "verify_tls": "no"}], {}, "verify_tls must be true or false"),
        ([{**HOOK, "ca_file": "/nope/ca.pem"}], {}, "ca_file '/nope/ca.pem' does not exist"),
        ([{"type": "stdout"}, {"type": "stdout"}], {}, "channel 'stdout': duplicate name"),
        ([{"type": "stdout", "name": "a b"}], {}, "channels[0]: name must be"),
        (
            [{"type": "stdout", "min_severity": "LOUD"}],
            {},
            f"min_severity must be one of {SEVERITIES}",
        ),
        ([{"type": "stdout", "min_severity": "HEALTHY"}], {}, "min_severity must be one of"),
        (
            [{"type": "stdout", "colour": "red"}],
            {},
            "unknown key 'colour' (allowed: min_severity, name, type)",
        ),
        ([{"type": "jsonl"}], {}, "channel 'jsonl' (jsonl): missing path"),
        ([{**MAIL, "host": None}], {}, "missing host"),
        ([{**MAIL, "from": None}], {}, "missing from"),
        ([{**MAIL, "to": []}], {}, "missing to"),
        ([{**MAIL, "to": [""]}], {}, "missing to"),
        ([{**MAIL, "password": "pw"}], {}, "set password_env"),
        ([{**MAIL, "username": "u"}], {}, "username needs password_env"),
        ([{**MAIL, "password_env": "PW"}], {"PW": "pw"}, "password_env needs username"),
        (
            [{**MAIL, "username": "u", "password_env": "PW", "starttls": False}],
            {"PW": "pw"},
            "login needs starttls",
        ),
        ([{**MAIL, "ssl": True, "starttls": True}], {}, "either ssl"),
        ([{**MAIL, "port": "25"}], {}, "port must be an integer"),
        ([{**MAIL, "port": 70000}], {}, "port must be an integer between 1 and 65535"),
        ({"type": "stdout"}, {}, "list of tables"),
        (["stdout"], {}, "channels[0]: must be a table"),
    ],
)
def test_bad_config_is_one_clear_line(configs: Any, environ: dict[str, str], expected: str) -> None:
    # A None value in a case removes that key from the MAIL or HOOK base table.
    configs = (
        [
            {k: v for k, v in c.items() if v is not None} if isinstance(c, dict) else c
            for c in configs
        ]
        if isinstance(configs, list)
        else configs
    )
    with pytest.raises(TxmonError) as caught:
        build_channels(configs, environ)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    # Nothing chained: a validation error would print the values given, secrets among them.
    assert "Traceback" not in "".join(traceback.format_exception(caught.value))[1:]


def test_a_ca_file_that_is_no_certificate(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(TxmonError, match="cannot load ca_file"):
        build_channels([{**HOOK, "ca_file": str(bad)}], {})


def test_environ_defaults_to_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, web: WebServer
) -> None:
    monkeypatch.setenv("TXMON_TEST_HOOK_URL", web.url)
    one_channel = build_channels([{"type": "webhook", "url_env": "TXMON_TEST_HOOK_URL"}])
    one_channel[0].send(NOTIFICATION)
    assert len(web.requests) == 1


def test_secrets_stay_out_of_repr_errors_and_logs(
    web: WebServer,
    smtp_server: Callable[..., SmtpServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp = smtp_server(tls="starttls", auth=True)
    hook_url = f"{web.url}/services/{PATH_TOKEN}"
    dead_url = f"http://127.0.0.1:{closed_port()}/services/{PATH_TOKEN}"
    environ = {
        "HOOK_URL": hook_url,
        "DEAD_URL": dead_url,
        "HOOK_SECRET": SIGNING_SECRET,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "WRONG_PASSWORD": "wrong-" + SMTP_PASSWORD,
    }
    secrets = [PATH_TOKEN, SIGNING_SECRET, SMTP_PASSWORD, "services/"]
    login = {"username": SMTP_USER, "verify_tls": False}
    hook, slack, dead, slow, mail, bad_mail = build_channels(
        [
            {"type": "webhook", "name": "hook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
            {"type": "slack", "webhook_url": hook_url},
            {"type": "webhook", "name": "dead", "url_env": "DEAD_URL"},
            {"type": "webhook", "name": "slow", "url": hook_url, "timeout_seconds": 0.5},
            email_config(smtp.port, password_env="SMTP_PASSWORD", **login),
            email_config(smtp.port, name="bad-mail", password_env="WRONG_PASSWORD", **login),
        ],
        environ,
    )
    texts = [repr(channel) for channel in (hook, slack, dead, slow, mail, bad_mail)]
    texts += [str(channel) for channel in (hook, slack, dead, slow, mail, bad_mail)]

    hook.send(NOTIFICATION)
    slack.send(NOTIFICATION)
    mail.send(NOTIFICATION)
    errors = []
    web.statuses.extend([404, 500])
    errors.append(send_error(hook))
    errors.append(send_error(slack))
    errors.append(send_error(dead))
    errors.append(send_error(bad_mail))
    web.hold = True
    errors.append(send_error(slow))
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    for bad in (
        {"type": "webhook", "url": f"ftp://x.test/{PATH_TOKEN}"},
        {"type": "webhook", "url": f"https://x.test/{PATH_TOKEN}", "timeout_seconds": -1},
        {"type": "webhook", "url": f"https://x.test/{PATH_TOKEN}", "secret": 5},
    ):
        with pytest.raises(TxmonError) as caught:
            build_channels([bad], {})
        texts += [str(caught.value), "".join(traceback.format_exception(caught.value))]
    texts.append(caplog.text)

    assert "delivered" in caplog.text  # something was logged, and it holds no secret
    for text in texts:
        for secret in secrets:
            assert secret not in text, text
