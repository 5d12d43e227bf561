"""The [[channels]] tables of the settings file: one pydantic model per channel type, and the
channels built from them.

A model refuses keys it does not know. Every problem becomes one line that names the channel
(or its position, before it has a name) and the key, e.g.
`channel 'pager' (webhook): timeout_seconds must be greater than 0`. Secrets may be written in
the file or, better, left in environment variables that `<key>_env` names; a message never
quotes a secret's value.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from txmon.alerting.channels.alertmanager import (
    ALERT_LABELS,
    DEFAULT_RESOLVE_AFTER_MINUTES,
    AlertmanagerChannel,
)
from txmon.alerting.channels.email import DEFAULT_SMTP_TIMEOUT, EmailChannel
from txmon.alerting.channels.fields import (
    ChannelConfig,
    Header,
    Minutes,
    Port,
    Seconds,
    Text,
    TlsConfig,
    checked_url,
    endpoint,
    login,
    no_secret_in_the_file,
    secret_value,
)
from txmon.alerting.channels.jsonl import JsonlChannel
from txmon.alerting.channels.pagerduty import DEFAULT_SOURCE, EVENTS_URL, PagerDutyChannel
from txmon.alerting.channels.slack import SlackChannel
from txmon.alerting.channels.stdout import StdoutChannel
from txmon.alerting.channels.teams import TeamsChannel
from txmon.alerting.channels.webhook import WebhookChannel
from txmon.alerting.notification import Channel
from txmon.core.errors import TxmonError

# Prometheus' label names; a leading __ is reserved for its own.
LABEL_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SMTPS_PORT = 465
SUBMISSION_PORT = 587


class StdoutConfig(ChannelConfig):
    type: Literal["stdout"]

    def build(self) -> Channel:
        return StdoutChannel(self.name, self.min_severity)


class JsonlConfig(ChannelConfig):
    type: Literal["jsonl"]
    path: Text

    def build(self) -> Channel:
        return JsonlChannel(
            self.name, self.min_severity, path=Path(self.path).expanduser().absolute()
        )


class WebhookConfig(TlsConfig):
    type: Literal["webhook"]
    url: Text | None = None
    url_env: Text | None = None
    secret: Text | None = None
    secret_env: Text | None = None
    _url: str = PrivateAttr("")
    _secret: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _resolve_secrets(self, info: ValidationInfo) -> WebhookConfig:
        self._url = endpoint(self, "url", info)
        self._secret = secret_value(self, "secret", info, required=False)
        return self

    def build(self) -> Channel:
        return WebhookChannel(
            self.name, self.min_severity, url=self._url, secret=self._secret, **self.connection()
        )


class IncomingWebhookConfig(TlsConfig):
    """A chat service's incoming webhook: its URL is the credential."""

    webhook_url: Text | None = None
    webhook_url_env: Text | None = None
    _url: str = PrivateAttr("")

    @model_validator(mode="after")
    def _resolve_url(self, info: ValidationInfo) -> IncomingWebhookConfig:
        self._url = endpoint(self, "webhook_url", info)
        return self


class SlackConfig(IncomingWebhookConfig):
    type: Literal["slack"]

    def build(self) -> Channel:
        return SlackChannel(self.name, self.min_severity, url=self._url, **self.connection())


class TeamsConfig(IncomingWebhookConfig):
    type: Literal["teams"]

    def build(self) -> Channel:
        return TeamsChannel(self.name, self.min_severity, url=self._url, **self.connection())


class EmailConfig(TlsConfig):
    type: Literal["email"]
    timeout_seconds: Seconds = DEFAULT_SMTP_TIMEOUT
    host: Text
    port: Port | None = None
    use_ssl: bool = Field(False, alias="ssl")
    starttls: bool | None = None
    username: Text | None = None
    username_env: Text | None = None
    password_env: Text | None = None
    from_addr: Text = Field(alias="from")
    to: Text | Annotated[list[Text], Field(min_length=1)]
    _username: str | None = PrivateAttr(None)
    _password: str | None = PrivateAttr(None)

    problems: ClassVar[dict[str, str]] = {
        "port": "port must be an integer between 1 and 65535",
        "to": "missing to (a list of e-mail addresses)",
    }

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_the_file(cls, raw: Any) -> Any:
        no_secret_in_the_file(raw, "password", "a password")
        return raw

    @model_validator(mode="after")
    def _tls_and_login(self, info: ValidationInfo) -> EmailConfig:
        if self.use_ssl and self.starttls is True:
            raise ValueError("set either ssl (implicit TLS) or starttls, not both")
        username, password = login(self, info)
        if username is not None and not (self.use_ssl or self.uses_starttls):
            # Refuse to send a password in clear text.
            raise ValueError("login needs starttls = true or ssl = true")
        self._username, self._password = username, password
        return self

    @property
    def uses_starttls(self) -> bool:
        """STARTTLS unless implicit TLS is on or it is turned off."""
        return not self.use_ssl and self.starttls is not False

    def build(self) -> Channel:
        return EmailChannel(
            self.name,
            self.min_severity,
            host=self.host,
            port=self.port or (SMTPS_PORT if self.use_ssl else SUBMISSION_PORT),
            use_ssl=self.use_ssl,
            starttls=self.uses_starttls,
            username=self._username,
            password=self._password,
            from_addr=self.from_addr,
            to_addrs=[self.to] if isinstance(self.to, str) else self.to,
            **self.connection(),
        )


class AlertmanagerConfig(TlsConfig):
    type: Literal["alertmanager"]
    url: Text | None = None
    url_env: Text | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    generator_url: Text | None = None
    resolve_after_minutes: Minutes = DEFAULT_RESOLVE_AFTER_MINUTES
    username: Text | None = None
    username_env: Text | None = None
    password_env: Text | None = None
    bearer_token_env: Text | None = None
    _url: str = PrivateAttr("")
    _username: str | None = PrivateAttr(None)
    _password: str | None = PrivateAttr(None)
    _bearer_token: str | None = PrivateAttr(None)

    problems: ClassVar[dict[str, str]] = {
        "labels": "labels must be a table of label names and non-empty strings",
    }

    @model_validator(mode="before")
    @classmethod
    def _no_credentials_in_the_file(cls, raw: Any) -> Any:
        no_secret_in_the_file(raw, "password", "a password")
        no_secret_in_the_file(raw, "bearer_token", "a bearer token")
        return raw

    @field_validator("labels")
    @classmethod
    def _prometheus_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, value in labels.items():
            if not LABEL_NAME_PATTERN.fullmatch(name) or name.startswith("__"):
                raise ValueError(
                    f"labels: {name[:64]!r} is not a label name (letters, digits and _, not "
                    "starting with a digit or __)"
                )
            if name in ALERT_LABELS:
                raise ValueError(f"labels: txmon sets {name!r} ({', '.join(ALERT_LABELS)})")
            if not value.strip():
                raise ValueError(f"labels: {name} must be a non-empty string")
        return labels

    @field_validator("generator_url")
    @classmethod
    def _generator_url(cls, url: str | None) -> str | None:
        return None if url is None else checked_url(url, "generator_url")

    @model_validator(mode="after")
    def _resolve_secrets(self, info: ValidationInfo) -> AlertmanagerConfig:
        self._url = endpoint(self, "url", info)
        self._username, self._password = login(self, info)
        self._bearer_token = secret_value(self, "bearer_token", info, required=False)
        if self._bearer_token is not None and self._username is not None:
            raise ValueError("set either username and password_env or bearer_token_env, not both")
        if (self._bearer_token or self._password) and not self._url.lower().startswith("https:"):
            # Credentials never cross the network in clear text.
            raise ValueError("basic auth and bearer tokens need an https:// url")
        return self

    def build(self) -> Channel:
        return AlertmanagerChannel(
            self.name,
            self.min_severity,
            url=self._url,
            labels=self.labels,
            generator_url=self.generator_url,
            resolve_after_minutes=self.resolve_after_minutes,
            username=self._username,
            password=self._password,
            bearer_token=self._bearer_token,
            **self.connection(),
        )


class PagerDutyConfig(TlsConfig):
    type: Literal["pagerduty"]
    url: Text | None = None
    url_env: Text | None = None
    routing_key_env: Text
    source: Text = DEFAULT_SOURCE
    group: Text | None = None
    client_url: Text | None = None
    _url: str = PrivateAttr("")
    _routing_key: str = PrivateAttr("")

    problems: ClassVar[dict[str, str]] = {
        "routing_key_env": (
            "missing routing_key_env (the environment variable that holds the integration's "
            "routing key)"
        ),
    }

    @model_validator(mode="before")
    @classmethod
    def _no_routing_key_in_the_file(cls, raw: Any) -> Any:
        no_secret_in_the_file(raw, "routing_key", "the routing key")
        return raw

    @field_validator("client_url")
    @classmethod
    def _client_url(cls, url: str | None) -> str | None:
        return None if url is None else checked_url(url, "client_url")

    @model_validator(mode="after")
    def _resolve_secrets(self, info: ValidationInfo) -> PagerDutyConfig:
        # The US service unless url (for example the EU one) says otherwise.
        if self.url is None and self.url_env is None:
            self._url = EVENTS_URL
        else:
            self._url = endpoint(self, "url", info)
        routing_key = secret_value(self, "routing_key", info, required=True)
        assert routing_key is not None
        self._routing_key = routing_key
        return self

    def build(self) -> Channel:
        return PagerDutyChannel(
            self.name,
            self.min_severity,
            url=self._url,
            routing_key=self._routing_key,
            source=self.source,
            group=self.group,
            client_url=self.client_url,
            **self.connection(),
        )


CHANNEL_CONFIGS: dict[str, type[ChannelConfig]] = {
    "stdout": StdoutConfig,
    "jsonl": JsonlConfig,
    "webhook": WebhookConfig,
    "slack": SlackConfig,
    "teams": TeamsConfig,
    "email": EmailConfig,
    "alertmanager": AlertmanagerConfig,
    "pagerduty": PagerDutyConfig,
}
CHANNEL_TYPES = tuple(CHANNEL_CONFIGS)


def build_channels(
    configs: Sequence[Mapping[str, Any]], environ: Mapping[str, str] | None = None
) -> list[Channel]:
    """Channels from the [[channels]] tables of the settings file.

    `environ` (default os.environ) resolves the *_env keys, so secrets stay out of the file.
    Raises TxmonError with a one-line message for the first bad table.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    if isinstance(configs, Mapping | str) or not isinstance(configs, Sequence):
        raise TxmonError("channels must be a list of tables ([[channels]] in TOML)")
    channels: list[Channel] = []
    for index, raw in enumerate(configs):
        channel = _build_one(raw, f"channels[{index}]", env)
        if channel.name in {earlier.name for earlier in channels}:
            raise TxmonError(
                f"channel {channel.name!r}: duplicate name (give each channel a distinct name)"
            )
        channels.append(channel)
    return channels


def _build_one(raw: Any, position: str, environ: Mapping[str, str]) -> Channel:
    if not isinstance(raw, Mapping):
        raise TxmonError(f"{position}: must be a table")
    try:
        header = Header.model_validate(raw)
    except ValidationError as error:
        raise TxmonError(f"{position}: {_header_problem(error.errors())}") from None
    model = CHANNEL_CONFIGS.get(header.type)
    if model is None:
        raise TxmonError(f"{position}: unknown type {header.type!r} (one of {_types()})")
    name = header.name or header.type
    label = f"channel {name!r} ({header.type})"
    try:
        config = model.model_validate({**raw, "name": name}, context={"environ": environ})
    except ValidationError as error:
        # `from None`: the validation error would print the values, secrets among them.
        raise TxmonError(f"{label}: {_problem(model, error.errors())}") from None
    try:
        return config.build()
    except ssl.SSLError as error:
        raise TxmonError(f"{label}: cannot load ca_file: {error.reason or error}") from None


def _types() -> str:
    return ", ".join(CHANNEL_TYPES)


def _header_problem(errors: list[ErrorDetails]) -> str:
    error = errors[0]
    if error["loc"] == ("type",):
        if error["type"] == "missing":
            return f"missing type (one of {_types()})"
        return f"unknown type {error['input']!r} (one of {_types()})"
    return "name must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"


# What a key's value must be, by the kind of error pydantic reports for it.
_VALUE_PROBLEMS: dict[str, str] = {
    "string_type": "must be a non-empty string",
    "string_pattern_mismatch": "must be a non-empty string",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "finite_number": "must be greater than 0",
    "greater_than": "must be greater than 0",
}


def _problem(model: type[ChannelConfig], errors: list[ErrorDetails]) -> str:
    """The first problem, unknown keys before bad values."""
    unknown = sorted(str(error["loc"][0]) for error in errors if error["type"] == "extra_forbidden")
    if unknown:
        return f"unknown key {unknown[0]!r} (allowed: {', '.join(model.allowed_keys())})"
    error = errors[0]
    if error["type"] == "value_error":
        # Our own checks: their message is the whole line.
        return str(error.get("ctx", {}).get("error", error["msg"]))
    key = str(error["loc"][0])
    if key in model.problems:
        return model.problems[key]
    if error["type"] == "missing":
        return f"missing {key}"
    problem = _VALUE_PROBLEMS.get(error["type"])
    return f"{key} {problem}" if problem else f"{key}: {error['msg']}"
