"""Readers of the deployment files for the tests in tests/python/deploy: docker-compose.yml
(YAML), the Dockerfiles (their instructions), the systemd units (INI), the crontab and the
KEY=value environment files, plus a check of a txmon command line against the real CLI.

No Docker engine, systemd or cron is needed: the files are parsed, never run.
"""

from __future__ import annotations

import configparser
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Any

import click
import yaml

from conftest import REPO_ROOT
from txmon.cli import main

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
DEPLOY = REPO_ROOT / "deploy"
UNITS = ("txmon-scheduler.service", "txmon-api.service")
TXMON_HOME = "/var/lib/txmon"

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# ${NAME}, ${NAME:-default}, ${NAME:?message}, $NAME; `$$` is Compose's escaped dollar.
REFERENCE = re.compile(rf"(?<!\$)\$(?:\{{(?P<braced>{NAME})(?P<rest>[^}}]*)\}}|(?P<bare>{NAME}))")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]*):(?P<password>[^@\s]+)@")


# -- docker-compose.yml --------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def references(text: str) -> Iterator[tuple[str, str]]:
    """(variable, what follows its name inside the braces) for each substitution in `text`."""
    for match in REFERENCE.finditer(text):
        yield match["braced"] or match["bare"], match["rest"] or ""


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, in either of Compose's two forms."""
    values = service.get("environment") or {}
    if isinstance(values, list):
        pairs = (item.partition("=") for item in values)
        return {key: value for key, _, value in pairs}
    return {key: "" if value is None else str(value) for key, value in values.items()}


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def mounts(service: dict[str, Any]) -> list[Mount]:
    """A service's volumes in short (SOURCE:TARGET[:ro]) or long syntax."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append(
                Mount(volume["source"], volume["target"], bool(volume.get("read_only", False)))
            )
        else:
            source, target, *options = str(volume).split(":")
            found.append(Mount(source, target, "ro" in options))
    return found


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(host address, container port) of each published port."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((port.get("host_ip"), str(port["target"])))
            continue
        # IP:HOST_PORT:CONTAINER_PORT, the host port possibly a ${VARIABLE:-default}.
        parts = REFERENCE.sub("0", str(port)).split("/")[0].split(":")
        found.append((parts[0] if len(parts) == 3 else None, parts[-1]))
    return found


def service_argv(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


# -- environment files ---------------------------------------------------------------------------


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (comments and blank lines skipped); each key once."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, separator, value = stripped.partition("=")
        assert separator and re.fullmatch(NAME, key), f"{path.name}:{number}: not KEY=value"
        assert key not in values, f"{path.name}:{number}: {key} defined twice"
        values[key] = value
    return values


# -- Dockerfiles ---------------------------------------------------------------------------------


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, arguments = full.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile(keyword: str, path: Path = DOCKERFILE) -> list[str]:
    return [arguments for name, arguments in dockerfile_instructions(path) if name == keyword]


def copy_sources(arguments: str) -> tuple[dict[str, str], list[str], str]:
    """A COPY instruction's --flags, its sources and its destination."""
    words = shlex.split(arguments)
    flags = dict(word.removeprefix("--").partition("=")[::2] for word in words if word[:2] == "--")
    paths = [word for word in words if not word.startswith("--")]
    return flags, paths[:-1], paths[-1]


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""
    out, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            out, index = out + pattern[index : end + 1], end + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out)


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative, with /) out of the build context."""
    ignored = False
    for line in DOCKERIGNORE.read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        regex = dockerignore_regex(rule.lstrip("!").strip("/"))
        parts = path.split("/")
        # A pattern that matches a folder excludes everything in it.
        if any(regex.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


# -- systemd units and the crontab ---------------------------------------------------------------


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text(), source=name)
    return parser


@dataclass(frozen=True)
class CronJob:
    schedule: list[str]
    user: str
    command: str


def cron_entries() -> list[str]:
    lines = (DEPLOY / "txmon.cron").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def cron_variables() -> dict[str, str]:
    return dict(line.split("=", 1) for line in cron_entries() if re.match(rf"{NAME}=", line))


def cron_job() -> CronJob:
    """The five time fields, the user and the command of the crontab's one job."""
    jobs = [line for line in cron_entries() if not re.match(rf"{NAME}=", line)]
    assert len(jobs) == 1, jobs
    fields = jobs[0].split(None, 6)
    assert len(fields) == 7, f"want five time fields, a user and a command: {jobs[0]}"
    return CronJob(fields[:5], fields[5], fields[6])


def shell_commands(command: str) -> list[list[str]]:
    """The simple commands of a shell line, as argv lists: split at `&&`, `||`, `;` and `|`,
    with `sh -c '...'` opened up and redirections dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[list[str]] = []
    current: list[str] = []
    words = list(lexer)
    index = 0
    while index < len(words):
        word = words[index]
        if word in ("&&", "||", ";", "|"):
            found.append(current)
            current = []
        elif word in (">", ">>", "<", "2>", ">&") or word.endswith(">&"):
            index += 1  # the redirection's target
        elif word == "2" and index + 1 < len(words) and words[index + 1].startswith(">"):
            pass  # the file descriptor of 2>&1
        else:
            current.append(word)
        index += 1
    found.append(current)
    expanded = []
    for argv in filter(None, found):
        if len(argv) >= 3 and Path(argv[0]).name == "sh" and "-c" in argv:
            expanded += shell_commands(argv[argv.index("-c") + 1])
        elif Path(argv[0]).name == "flock":
            # flock [options] FILE COMMAND...: the command runs under the lock.
            options = list(takewhile(lambda word: word.startswith("-"), argv[1:]))
            expanded += shell_commands(shlex.join(argv[1 + len(options) + 1 :]))
        else:
            expanded.append(argv)
    return expanded


# -- the txmon command line ----------------------------------------------------------------------


def check_txmon_command(argv: list[str]) -> click.Command:
    """Parse a txmon command line (without `txmon`) as the CLI would; returns the command it
    runs. Raises click.UsageError for a subcommand or option that does not exist, or a bad
    value."""
    command: click.Command = main
    context: click.Context | None = None
    name, words = "txmon", list(argv)
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        context = click.Context(command, info_name=name, parent=context)
        subcommand = command.get_command(context, words[0])
        if subcommand is None:
            raise click.UsageError(f"no such command {words[0]!r} in {context.command_path}")
        command, name, words = subcommand, words[0], words[1:]
    command.make_context(name, words, parent=context)
    return command
