"""Running the dbt project in-process against the database txmon uses, with the settings
file's [model] section as dbt vars."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txmon.core.config import Settings, load_settings
from txmon.core.errors import BuildError
from txmon.core.facts import PUBLIC_SCHEMA_VARIABLE, public_schema
from txmon.core.paths import dbt_project_dir, private_dir, txmon_home
from txmon.db.connection import connect, database_url, libpq_environment
from txmon.ingest.raw_tables import ensure_raw_tables


@dataclass(frozen=True)
class NodeFailure:
    node: str
    status: str
    message: str


@dataclass(frozen=True)
class BuildResult:
    success: bool
    failures: tuple[NodeFailure, ...]
    nodes_run: int

    def first_failure_line(self) -> str:
        if not self.failures:
            return "dbt failed"
        failure = self.failures[0]
        more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return f"dbt {failure.status} in {failure.node}: {failure.message}{more}"


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The dbt vars that the settings file decides: [model], and the older [rules] spelling."""
    chosen = dict(settings.model)
    if settings.rules.recovery_minutes is not None:
        chosen["recovery_minutes"] = settings.rules.recovery_minutes
    return chosen


# Memory for each sort or hash of a build's queries.
DBT_WORK_MEM = "64MB"


def dbt_environment(url: str, settings: Settings | None = None) -> dict[str, str]:
    """What a dbt process needs to see: the libpq variables that profiles.yml reads, the
    settings file's [model] vars (dbt_project.yml reads TXMON_DBT_VARS), no JIT (on these short
    queries compiling a plan costs seconds whenever an estimate runs high), room for a cycle's
    sorts and hashes over a thousand series in memory (the server's default 4 MB spilled them
    to disk; a user's own PGOPTIONS come first and win), and tests selected
    only when every model they read is built: with dbt's default a partial build such as
    `--select +fct_metric_minutes` also runs a test reaching a table it did not build and fails.
    The public schema's name goes too: dbt_project.yml reads it."""
    chosen = settings if settings is not None else load_settings()
    options = os.environ.get("PGOPTIONS", "")
    return {
        **libpq_environment(url),
        PUBLIC_SCHEMA_VARIABLE: public_schema(),
        "TXMON_DBT_VARS": json.dumps(dbt_vars(chosen), sort_keys=True),
        "PGOPTIONS": f"-c work_mem={DBT_WORK_MEM} {options} -c jit=off".strip(),
        "DBT_INDIRECT_SELECTION": os.environ.get("DBT_INDIRECT_SELECTION", "buildable"),
    }


@contextmanager
def _dbt_environment(url: str, settings: Settings | None = None) -> Iterator[None]:
    """Point profiles.yml at `url`, with the settings' vars, for the duration of one dbt call."""
    updates = dbt_environment(url, settings)
    previous = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# The dbt target that txmon's own commands build and read (profiles.yml); TXMON_DBT_TARGET or
# --target choose another for plain dbt and `txmon dbt`.
TXMON_TARGET = "prod"


def dbt_command(words: Sequence[str]) -> tuple[str, list[str]]:
    """Split `source freshness --select x` into dbt's command (one word or more, as dbt's
    own command line nests them) and its arguments; a BuildError names dbt's commands when
    the words start none."""
    import click
    from dbt.cli.main import cli

    found: click.Command = cli
    rest = list(words)
    names: list[str] = []
    while isinstance(found, click.Group) and rest and rest[0] in found.commands:
        names.append(rest.pop(0))
        found = found.commands[names[-1]]
    if isinstance(found, click.Group):
        choices = ", ".join(sorted(found.commands))
        if not names:
            raise BuildError(f"{rest[0]!r} is not a dbt command; dbt's commands: {choices}")
        given = f", not {rest[0]!r}" if rest else ""
        raise BuildError(f"`dbt {' '.join(names)}` needs one of: {choices}{given}")
    return " ".join(names), rest


def _accepted_options(command: str) -> set[str]:
    """The options dbt's `command` takes (`dbt deps` and `dbt debug` take no --target-path)."""
    import click
    from dbt.cli.main import cli

    found: click.Command = cli
    for name in command.split():
        assert isinstance(found, click.Group)
        found = found.commands[name]
    return {option for parameter in found.params for option in parameter.opts}


def dbt_arguments(command: str, extra: Sequence[str] = (), quiet: bool = False) -> list[str]:
    """dbt's command line for `command` (`build`, `source freshness`, ...) on txmon's
    project, with its artefacts and logs under TXMON_HOME."""
    project = dbt_project_dir()
    home = txmon_home()
    accepted = _accepted_options(command)
    options = {
        "--project-dir": project,
        "--profiles-dir": project,
        "--target-path": home / "dbt" / "target",
        "--log-path": home / "dbt" / "logs",
    }
    args = command.split()
    for option, value in options.items():
        if option in accepted:
            args += [option, str(value)]
    return [*output_options(extra, quiet=quiet), *args, *extra]


# dbt's options for colour in its log on stdout; one the caller gives wins over txmon's choice.
_COLOUR_OPTIONS = {"--use-colors", "--no-use-colors"}


def output_options(extra: Sequence[str], *, quiet: bool) -> list[str]:
    """dbt's global options for its log on stdout: errors only when `quiet`, and colour only on
    a terminal (a log file or a pipe gets plain text), unless `extra` says otherwise."""
    options = ["--quiet"] if quiet else []
    if not sys.stdout.isatty() and not _COLOUR_OPTIONS.intersection(extra):
        options.append("--no-use-colors")
    return options


# How far a dbt command has got: nodes finished, and nodes selected (None until dbt says).
NodeProgress = Callable[[int, int | None], None]


def _progress_events(report: NodeProgress) -> Callable[[Any], None]:
    """A dbt event callback for `report`. Every event reports, also those of parsing and
    connecting before any node runs, so a display can show that dbt is at work."""
    done = 0
    total: int | None = None
    lock = threading.Lock()  # nodes finish on dbt's worker threads

    def on_event(event: Any) -> None:
        nonlocal done, total
        with lock:
            name = event.info.name
            if name == "ConcurrencyLine":  # says how many nodes were selected
                total = int(event.data.node_count)
            elif name == "NodeFinished":
                done += 1
            report(done if total is None else min(done, total), total)

    return on_event


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_MAX_MESSAGE = 400


def _one_line(message: str) -> str:
    """dbt messages span lines and carry colour codes; the CLI prints one plain line."""
    text = " ".join(_ANSI_ESCAPE.sub("", message).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


# Commands that run selected nodes: selecting none of them is a mistake, not a success.
_NODE_COMMANDS = {"build", "run", "test", "seed", "snapshot"}


def _summarise(result: Any, command: str = "") -> BuildResult:
    failures: list[NodeFailure] = []
    nodes_run = 0
    run_results = getattr(result.result, "results", None) or []
    for node_result in run_results:
        if str(getattr(node_result.node, "resource_type", "")) != "operation":
            nodes_run += 1  # the project's hooks are not nodes anyone selected
        status = str(getattr(node_result, "status", "")).lower()
        if status in {"error", "fail", "runtime error"}:
            node = node_result.node
            name = getattr(node, "name", None) or getattr(node, "unique_id", "?")
            resource = getattr(node, "resource_type", "")
            label = f"{resource} {name}".strip()
            message = _one_line(str(node_result.message or ""))
            failures.append(NodeFailure(label, status, message))
    success = bool(result.success) and not failures
    if not success and not failures and result.exception is not None:
        message = _one_line(str(result.exception))
        failures.append(NodeFailure("project", "error", message))
    if success and command in _NODE_COMMANDS and nodes_run == 0:
        success = False
        failures.append(NodeFailure("selection", "error", "no dbt node matched the selection"))
    return BuildResult(success, tuple(failures), nodes_run)


def on_target(extra: Sequence[str], target: str | None) -> list[str]:
    """The arguments with `--target target`, unless they choose a target themselves."""
    chosen = any(arg in ("--target", "-t") or arg.startswith("--target=") for arg in extra)
    return list(extra) if target is None or chosen else [*extra, "--target", target]


def run_dbt(
    command: str,
    extra: Sequence[str] = (),
    *,
    url: str | None = None,
    quiet: bool = False,
    raise_on_failure: bool = True,
    manifest: Any = None,
    settings: Settings | None = None,
    target: str | None = TXMON_TARGET,
    on_progress: NodeProgress | None = None,
) -> BuildResult:
    """Run one dbt command in-process; raises BuildError naming the first failing node.
    A `manifest` from `parse_project` skips parsing the project again. `target` is the dbt
    target unless `extra` names one; None leaves the choice to the profile (TXMON_DBT_TARGET).
    `on_progress` hears how many nodes have finished, as they finish."""
    from dbt.cli.main import dbtRunner

    extra = on_target(extra, target)
    public_schema()  # a name that cannot work fails here, before anything is written
    target_url = url or database_url()
    with connect(target_url) as conn:
        ensure_raw_tables(conn)
    private_dir(txmon_home() / "dbt")
    with _dbt_environment(target_url, settings):
        callbacks = [] if on_progress is None else [_progress_events(on_progress)]
        runner = dbtRunner(manifest=manifest, callbacks=callbacks)
        result = runner.invoke(dbt_arguments(command, extra, quiet=quiet))
    summary = _summarise(result, command)
    if raise_on_failure and not summary.success:
        raise BuildError(summary.first_failure_line())
    return summary


def parse_project(
    extra: Sequence[str] = (), *, url: str | None = None, settings: Settings | None = None
) -> Any:
    """Parse the dbt project once, for callers that build again and again (the scheduler), on
    the target txmon reads (the schemas are decided when parsing)."""
    from dbt.cli.main import dbtRunner

    extra = on_target(extra, TXMON_TARGET)
    target_url = url or database_url()
    private_dir(txmon_home() / "dbt")
    with _dbt_environment(target_url, settings):
        result = dbtRunner().invoke(dbt_arguments("parse", extra, quiet=True))
    if not result.success:
        raise BuildError(_summarise(result).first_failure_line())
    return result.result


def build(
    extra: Sequence[str] = (),
    *,
    url: str | None = None,
    quiet: bool = False,
    settings: Settings | None = None,
    on_progress: NodeProgress | None = None,
) -> BuildResult:
    """`dbt build`: seeds, models, unit tests and data tests, in dependency order."""
    return run_dbt("build", extra, url=url, quiet=quiet, settings=settings, on_progress=on_progress)


def with_vars(extra: Sequence[str], values: dict[str, Any]) -> list[str]:
    """Add dbt vars to the arguments, merged with a --vars the user gave (theirs win)."""
    import yaml

    args = list(extra)
    merged = dict(values)
    if "--vars" in args:
        position = args.index("--vars")
        if position + 1 >= len(args):
            raise BuildError("--vars needs a value, e.g. --vars '{baseline_mode: prototype}'")
        try:
            given = yaml.safe_load(args[position + 1]) or {}
        except yaml.YAMLError as error:
            raise BuildError(f"--vars is not valid YAML: {error}") from error
        if not isinstance(given, dict):
            raise BuildError("--vars must be a mapping, e.g. --vars '{baseline_mode: prototype}'")
        merged.update(given)
        del args[position : position + 2]
    if not merged:
        return args
    return [*args, "--vars", json.dumps(merged)]


def target_dir() -> Path:
    return txmon_home() / "dbt" / "target"
