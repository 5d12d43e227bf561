"""What every [[channels]] table shares: the common keys and types, the keys of channels that
talk to a server, and how secrets and URLs are read (literally or from the environment variable
that `<key>_env` names; a message never quotes a secret's value)."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from txmon.alerting.notification import Channel
from txmon.alerting.transport import DEFAULT_HTTP_TIMEOUT
from txmon.core.facts import alerting_severities

CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
DEFAULT_MIN_SEVERITY = "INFO"

# A string with something in it besides whitespace.
Text = Annotated[str, StringConstraints(pattern=r"\S")]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Minutes = Annotated[int, Field(gt=0)]
Port = Annotated[int, Field(gt=0, lt=65536)]


class Header(BaseModel):
    """What a table must say before its own model can check it: its type and its name."""

    model_config = ConfigDict(extra="ignore", strict=True)

    type: str
    name: Annotated[str, StringConstraints(pattern=CHANNEL_NAME_PATTERN)] | None = None


class ChannelConfig(BaseModel):
    """The keys every channel takes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: str
    name: str
    min_severity: str = DEFAULT_MIN_SEVERITY

    # What a bad value of these keys is said to be, whatever pydantic found wrong with it.
    problems: ClassVar[dict[str, str]] = {}

    @field_validator("min_severity", mode="before")
    @classmethod
    def _known_severity(cls, value: Any) -> str:
        if not isinstance(value, str) or value.upper() not in alerting_severities():
            raise ValueError(f"min_severity must be one of {', '.join(alerting_severities())}")
        return value.upper()

    @classmethod
    def allowed_keys(cls) -> list[str]:
        return sorted(field.alias or name for name, field in cls.model_fields.items())

    def build(self) -> Channel:
        raise NotImplementedError


def secret_value(model: BaseModel, key: str, info: ValidationInfo, *, required: bool) -> str | None:
    """`key` given literally or `key_env` naming an environment variable; not both."""
    env_key = f"{key}_env"
    literal, variable = getattr(model, key, None), getattr(model, env_key)
    if literal is not None and variable is not None:
        raise ValueError(f"set either {key} or {env_key}, not both")
    if variable is not None:
        environ: Mapping[str, str] = (info.context or {}).get("environ", os.environ)
        value = environ.get(variable)
        if not value:
            raise ValueError(
                f"environment variable {variable} (named by {env_key}) is not set or empty"
            )
        return value
    if literal is None and required:
        raise ValueError(f"missing {key} (set {key} or {env_key})")
    return literal


def no_secret_in_the_file(raw: Any, key: str, what: str) -> None:
    """Refuse a secret written in the file where only `key_env` may name it."""
    if isinstance(raw, Mapping) and key in raw:
        raise ValueError(
            f"do not put {what} in the config file; set {key}_env to the name of "
            "an environment variable that holds it"
        )


def login(model: BaseModel, info: ValidationInfo) -> tuple[str | None, str | None]:
    """The optional username (or username_env) and password_env: both or neither."""
    username = secret_value(model, "username", info, required=False)
    password = secret_value(model, "password", info, required=False)
    if username is not None and password is None:
        raise ValueError("username needs password_env")
    if password is not None and username is None:
        raise ValueError("password_env needs username (or username_env)")
    return username, password


def endpoint(model: BaseModel, key: str, info: ValidationInfo) -> str:
    """The http(s) URL given by `key` or `key_env`. It is a secret: the messages describe the
    problem without echoing it."""
    url = secret_value(model, key, info, required=True)
    assert url is not None
    return checked_url(url, key)


def checked_url(url: str, key: str) -> str:
    """`url` if it is an http(s) URL without a login in it; the messages do not echo it."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{key} must not contain user:password@")
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError(f"{key} has an invalid port") from None
    return url


class TlsConfig(ChannelConfig):
    """The keys of the channels that talk to a server."""

    timeout_seconds: Seconds = DEFAULT_HTTP_TIMEOUT
    verify_tls: bool = True
    ca_file: Text | None = None

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().absolute().is_file():
            raise ValueError(f"ca_file {str(Path(value).expanduser().absolute())!r} does not exist")
        return value

    def connection(self) -> dict[str, Any]:
        """The settings a channel that talks to a server takes, as its keyword arguments."""
        ca_path = None if self.ca_file is None else Path(self.ca_file).expanduser().absolute()
        return {
            "timeout_seconds": self.timeout_seconds,
            "verify_tls": self.verify_tls,
            "ca_file": ca_path,
        }
