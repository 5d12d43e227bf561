"""Running the dbt project in-process against the database txmon uses, with the settings
file's [model] section as dbt vars."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txmon.core.config import Settings, load_settings
from txmon.core.errors import BuildError
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


def dbt_environment(url: str, settings: Settings | None = None) -> dict[str, str]:
    """What a dbt process needs to see: the libpq variables that profiles.yml reads, the
    settings file's [model] vars (dbt_project.yml reads TXMON_DBT_VARS), no JIT (on these short
    queries compiling a plan costs seconds whenever an estimate runs high), and tests selected
    only when every model they read is built: with dbt's default a partial build such as
    `--select +fct_metric_minutes` also runs a test reaching a table it did not build and fails."""
    chosen = settings if settings is not None else load_settings()
    options = os.environ.get("PGOPTIONS", "")
    return {
        **libpq_environment(url),
        "TXMON_DBT_VARS": json.dumps(dbt_vars(chosen), sort_keys=True),
        "PGOPTIONS": f"{options} -c jit=off".strip(),
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


def dbt_arguments(command: str, extra: Sequence[str] = (), quiet: bool = False) -> list[str]:
    project = dbt_project_dir()
    home = txmon_home()
    args = [
        command,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(home / "dbt" / "target"),
        "--log-path",
        str(home / "dbt" / "logs"),
    ]
    if quiet:
        args = ["--quiet", *args]
    return [*args, *extra]


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


def run_dbt(
    command: str,
    extra: Sequence[str] = (),
    *,
    url: str | None = None,
    quiet: bool = False,
    raise_on_failure: bool = True,
    manifest: Any = None,
    settings: Settings | None = None,
) -> BuildResult:
    """Run one dbt command in-process; raises BuildError naming the first failing node.
    A `manifest` from `parse_project` skips parsing the project again."""
    from dbt.cli.main import dbtRunner

    target_url = url or database_url()
    with connect(target_url) as conn:
        ensure_raw_tables(conn)
    private_dir(txmon_home() / "dbt")
    with _dbt_environment(target_url, settings):
        result = dbtRunner(manifest=manifest).invoke(dbt_arguments(command, extra, quiet=quiet))
    summary = _summarise(result, command)
    if raise_on_failure and not summary.success:
        raise BuildError(summary.first_failure_line())
    return summary


def parse_project(
    extra: Sequence[str] = (), *, url: str | None = None, settings: Settings | None = None
) -> Any:
    """Parse the dbt project once, for callers that build again and again (the scheduler)."""
    from dbt.cli.main import dbtRunner

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
) -> BuildResult:
    """`dbt build`: seeds, models, unit tests and data tests, in dependency order."""
    return run_dbt("build", extra, url=url, quiet=quiet, settings=settings)


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
