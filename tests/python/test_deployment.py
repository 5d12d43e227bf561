"""The deployment files, checked by reading them: no Docker engine, systemd or cron needed.

Dockerfile and .dockerignore, docker-compose.yml and .env.example, the Superset image and the
PostgreSQL init script in deploy/, the systemd units and the crontab line. Every txmon command
line they run is checked against the real CLI (`txmon SUBCOMMAND --help`); `run` and `serve`,
being written alongside, are skipped with a reason while they do not exist.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import TXMON
from txmon.core.config import load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
DEPLOY = REPO_ROOT / "deploy"
UNITS = ("txmon-scheduler.service", "txmon-api.service")

SERVICES = ("postgres", "scheduler", "api", "superset")
# Subcommands the deployment runs that may not have landed yet: skipped, not failed, if absent.
BEING_WRITTEN = frozenset({"run", "serve"})
TXMON_HOME = "/var/lib/txmon"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# ${NAME}, ${NAME:-default}, ${NAME:?message}, $NAME; `$$` is Compose's escaped dollar.
REFERENCE = re.compile(rf"(?<!\$)\$(?:\{{(?P<braced>{NAME})(?P<rest>[^}}]*)\}}|(?P<bare>{NAME}))")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]*):(?P<password>[^@\s]+)@")


# -- helpers ---------------------------------------------------------------------------------


def _strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _references(text: str) -> Iterator[tuple[str, str]]:
    """(variable, what follows its name inside the braces) for each substitution in `text`."""
    for match in REFERENCE.finditer(text):
        yield match["braced"] or match["bare"], match["rest"] or ""


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, in either of Compose's two forms."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.partition("=") for item in environment)
        return {key: value for key, _, value in pairs}
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _env_file(path: Path) -> dict[str, str]:
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


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
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


def _dockerfile(keyword: str) -> list[str]:
    return [arguments for name, arguments in _dockerfile_instructions() if name == keyword]


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text(), source=name)
    return parser


def _cron_entries() -> list[str]:
    lines = (DEPLOY / "txmon.cron").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _cron_job() -> tuple[list[str], str, str]:
    """(the five time fields, the user, the command) of the crontab's one job."""
    jobs = [line for line in _cron_entries() if not re.match(rf"{NAME}=", line)]
    assert len(jobs) == 1, jobs
    fields = jobs[0].split(None, 6)
    assert len(fields) == 7, f"want five time fields, a user and a command: {jobs[0]}"
    return fields[:5], fields[5], fields[6]


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
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


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative, with /) out of the build context."""
    ignored = False
    for line in DOCKERIGNORE.read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        regex = _dockerignore_regex(rule.lstrip("!").strip("/"))
        parts = path.split("/")
        # A pattern that matches a folder excludes everything in it.
        if any(regex.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def _help(subcommand: str) -> str:
    """`txmon SUBCOMMAND --help`, or a skip when the subcommand is not there yet."""
    if not Path(TXMON).exists():
        pytest.skip(f"no txmon executable beside {sys.executable}")
    result = subprocess.run(
        [TXMON, subcommand, "--help"], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0 and "No such command" in result.stderr:
        assert subcommand in BEING_WRITTEN, f"`txmon {subcommand}` is no txmon subcommand"
        pytest.skip(f"`txmon {subcommand}` does not exist yet (it is being written)")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return _env_file(ENV_EXAMPLE)


def _txmon_command_lines() -> list[tuple[str, list[str]]]:
    """Every txmon command line the deployment runs: (where, argv without `txmon`)."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    found: list[tuple[str, list[str]]] = []
    for name in ("scheduler", "api"):
        command = document["services"][name]["command"]
        argv = shlex.split(command) if isinstance(command, str) else command
        found.append((f"compose {name}", argv))
    found += [("Dockerfile CMD", json.loads(_dockerfile("CMD")[-1]))]
    for unit in UNITS:
        argv = shlex.split(_unit(unit)["Service"]["ExecStart"])
        found.append((unit, argv[1:]))
    _, _, job = _cron_job()
    for match in re.finditer(r"/txmon ((?:[\w-]+ ?)+)", job):
        found.append(("txmon.cron", match[1].split()))
    return found


# -- docker-compose.yml and .env.example -------------------------------------------------------


def test_compose_defines_the_four_services_without_a_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the Compose spec has no version key"
    assert set(SERVICES) <= set(compose["services"]), sorted(compose["services"])


def test_compose_starts_with_how_to_run_it() -> None:
    header = COMPOSE_FILE.read_text().split("\n\n", 1)[0]
    assert header.startswith("#")
    for step in ("cp .env.example .env", "docker compose up -d"):
        assert step in header


def test_published_ports_are_bound_to_localhost(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in compose["services"].items():
        assert service.get("network_mode") != "host", name
        for port in service.get("ports", []):
            if isinstance(port, dict):
                host_ip, target = port.get("host_ip"), port["target"]
            else:
                # IP:HOST_PORT:CONTAINER_PORT, the host port possibly a ${VARIABLE:-default}.
                parts = REFERENCE.sub("0", str(port)).split("/")[0].split(":")
                host_ip, target = (parts[0] if len(parts) == 3 else None), parts[-1]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond localhost"
            published[name] = str(target)
    assert published["api"] == "8000"
    assert published["superset"] == "8088"


def test_every_variable_is_in_env_example_and_every_example_is_used(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    used = {name for text in _strings(compose) for name, _ in _references(text)}
    assert used, "docker-compose.yml substitutes no variables"
    missing, unused = sorted(used - set(env_example)), sorted(set(env_example) - used)
    assert not missing, f"used in docker-compose.yml, missing from .env.example: {missing}"
    assert not unused, f"in .env.example, unused by docker-compose.yml: {unused}"


def test_secrets_are_required_or_empty_never_defaulted(compose: dict[str, Any]) -> None:
    for text in _strings(compose):
        for name, rest in _references(text):
            if SECRET_NAME.search(name):
                # ${SECRET:?message} stops compose when unset; ${SECRET:-} is an unused channel.
                assert rest.startswith(":?") or rest in (":-", "-"), f"${{{name}{rest}}}"


def test_no_literal_secrets_in_compose(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    assert "env_file" not in COMPOSE_FILE.read_text(), "secrets are substituted, not copied whole"
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key) or "PASSWORD" in key:
                assert "${" in value, f"{name}: {key} is a literal, not a ${{VARIABLE}}"
    for text in _strings(compose):
        # What is left once every ${...} is taken out must hold no credentials.
        literal = REFERENCE.sub("", text)
        assert not URL_CREDENTIALS.search(literal), f"a password written into {text!r}"
        assert not re.search(r"(?i)(password|secret|token)\s*[=:]\s*\w", literal), text
    placeholders = {
        value for key, value in env_example.items() if SECRET_NAME.search(key) and value
    }
    raw = COMPOSE_FILE.read_text()
    assert not [value for value in placeholders if value in raw]


def test_env_example_holds_placeholders_only(env_example: dict[str, str]) -> None:
    for key, value in env_example.items():
        if SECRET_NAME.search(key) and value:
            assert "change-me" in value, f"{key}={value} looks like a real secret"
    for key in ("POSTGRES_PASSWORD", "TXMON_API_TOKEN", "SUPERSET_SECRET_KEY"):
        assert env_example[key], f"{key} needs a placeholder value"


def test_txmon_database_url_is_built_from_the_postgres_settings(compose: dict[str, Any]) -> None:
    for name in ("scheduler", "api"):
        url = _environment(compose["services"][name])["TXMON_DATABASE_URL"]
        assert url.startswith("postgresql://"), url
        assert {variable for variable, _ in _references(url)} == {
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_DB",
        }
        assert "@postgres:5432/" in url


def test_api_token_is_required(compose: dict[str, Any]) -> None:
    token = _environment(compose["services"]["api"])["TXMON_API_TOKEN"]
    assert [rest[:2] for _, rest in _references(token)] == [":?"]


def test_postgres_and_api_have_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    postgres = " ".join(services["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in postgres
    test = services["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the slim image has python, not curl"
    assert "http://127.0.0.1:8000/health" in test[3]
    compile(test[3], "api healthcheck", "exec")
    superset = services["superset"]["healthcheck"]["test"]
    compile(superset[-1], "superset healthcheck", "exec")


def test_services_wait_for_a_healthy_postgres(compose: dict[str, Any]) -> None:
    for name in ("scheduler", "api", "superset"):
        depends_on = compose["services"][name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name


def test_long_running_services_restart(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        assert compose["services"][name]["restart"] == "unless-stopped", name


def test_named_volumes_are_declared_and_mounted(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    assert {"pgdata", "txmon-home", "superset-home"} <= declared
    mounts = {
        name: dict(str(volume).split(":")[:2] for volume in service["volumes"])
        for name, service in compose["services"].items()
    }
    assert mounts["postgres"]["pgdata"] == "/var/lib/postgresql/data"
    assert mounts["scheduler"]["txmon-home"] == TXMON_HOME
    assert mounts["api"]["txmon-home"] == TXMON_HOME
    assert mounts["superset"]["superset-home"] == "/app/superset_home"
    for name, volumes in mounts.items():
        for source in volumes:
            assert source.startswith((".", "/")) or source in declared, f"{name}: {source}"


def test_scheduler_and_api_run_the_image_built_here(compose: dict[str, Any]) -> None:
    for name in ("scheduler", "api"):
        service = compose["services"][name]
        assert service["build"] == ".", name
        assert service.get("user") in (None, "10001:10001"), name


def test_postgres_is_the_official_image_with_its_settings_from_env(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:1[67](\.\d+)?(-[a-z]+)?", postgres["image"]), postgres["image"]
    environment = _environment(postgres)
    for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert environment[key] == f"${{{key}:?set {key} in .env}}"


def test_postgres_init_script_gets_what_it_reads(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    mount = next(v for v in postgres["volumes"] if "/docker-entrypoint-initdb.d" in str(v))
    folder = REPO_ROOT / str(mount).split(":")[0]
    scripts = sorted(folder.glob("*.sh"))
    assert scripts, folder
    environment = _environment(postgres)
    for script in scripts:
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        for name in re.findall(r'"\$\{(' + NAME + r"):\?", script.read_text()):
            assert name in environment, f"{script.name} reads {name}, not given to postgres"


def test_superset_is_the_official_image_plus_the_postgres_driver(compose: dict[str, Any]) -> None:
    superset = compose["services"]["superset"]
    folder = REPO_ROOT / superset["build"]["context"]
    shared = REPO_ROOT / superset["build"]["additional_contexts"]["txmon-superset"]
    assert shared == REPO_ROOT / "superset", "the same files as `txmon superset up`"
    dockerfile = (folder / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/superset:6\.1\.0$", dockerfile, re.MULTILINE)
    assert "psycopg2-binary" in dockerfile
    assert re.search(r"^USER superset$", dockerfile, re.MULTILINE), "back to Superset's own user"
    for source, copied in re.findall(r"^COPY (.*?)(\S+) \S+$", dockerfile, re.MULTILINE):
        base = shared if "--from=txmon-superset" in source else folder
        assert (base / copied).exists(), copied
    bootstrap = folder / "bootstrap.sh"
    assert bootstrap.stat().st_mode & 0o111
    assert "txmon_assets.py import" in bootstrap.read_text()
    config = (shared / "superset_config.py").read_text()
    assert 'os.environ.get("SUPERSET_SECRET_KEY"' in config
    environment = _environment(superset)
    assert environment["SUPERSET_SECRET_KEY"].startswith("${SUPERSET_SECRET_KEY:?")
    assert environment["SUPERSET_ADMIN_PASSWORD"].startswith("${SUPERSET_ADMIN_PASSWORD:?")
    readonly = environment["TXMON_SUPERSET_DATABASE_URI"]
    assert "SUPERSET_READER_USER" in readonly and "POSTGRES_USER" not in readonly


def test_the_default_settings_file_exists_and_loads(compose: dict[str, Any]) -> None:
    source = compose["configs"]["txmon-settings"]["file"]
    default = re.fullmatch(r"\$\{TXMON_CONFIG_FILE:-(.+)\}", source)
    assert default, source
    settings = load_settings(REPO_ROOT / default[1])
    assert settings.channels
    for name in ("scheduler", "api"):
        service = compose["services"][name]
        target = service["configs"][0]["target"]
        assert _environment(service)["TXMON_CONFIG"] == target


@pytest.mark.parametrize("script", ["deploy/postgres/initdb", "deploy/superset"])
def test_shell_scripts_parse(script: str) -> None:
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no sh")
    for path in sorted((REPO_ROOT / script).glob("*.sh")):
        result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path.name}: {result.stderr}"


# -- the txmon command lines ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "argv"),
    [
        pytest.param(where, argv, id=f"{where}: txmon {argv[0]}")
        for where, argv in _txmon_command_lines()
    ],
)
def test_command_lines_are_real_txmon_subcommands(where: str, argv: list[str]) -> None:
    help_text = _help(argv[0])
    for option in (word.split("=")[0] for word in argv[1:] if word.startswith("--")):
        assert option in help_text, f"{where}: `txmon {argv[0]}` has no {option}"


def test_image_installs_what_the_api_needs() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]

    def declares_fastapi(requirements: list[str]) -> bool:
        return any(re.match(r"fastapi\b", item, re.IGNORECASE) for item in requirements)

    if declares_fastapi(project.get("dependencies", [])):
        return
    extras = [
        name
        for name, requirements in project.get("optional-dependencies", {}).items()
        if declares_fastapi(requirements)
    ]
    if not extras:
        pytest.skip("the API's dependencies are not declared in pyproject.toml yet")
    args = dict(arg.partition("=")[::2] for arg in _dockerfile("ARG"))
    installed = {extra.strip() for extra in args.get("TXMON_EXTRAS", "").strip("\"'").split(",")}
    assert installed & set(extras), f"set ARG TXMON_EXTRAS to one of {extras} in the Dockerfile"


# -- Dockerfile and .dockerignore ---------------------------------------------------------------


def test_dockerfile_base_image_is_a_pinned_python_311_slim() -> None:
    (base,) = _dockerfile("FROM")
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_dockerfile_runs_txmon_as_a_non_root_user() -> None:
    users = _dockerfile("USER")
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert json.loads(_dockerfile("ENTRYPOINT")[-1]) == ["txmon"]
    assert json.loads(_dockerfile("CMD")[-1]) == ["run", "--every", "60s"]


def test_dockerfile_installs_the_package_and_keeps_state_in_txmon_home() -> None:
    installs = [run for run in _dockerfile("RUN") if "pip install" in run]
    assert installs and all("--no-cache-dir" in run for run in installs)
    environment = " ".join(_dockerfile("ENV"))
    assert f"TXMON_HOME={TXMON_HOME}" in environment
    assert "DO_NOT_TRACK=1" in environment
    assert _dockerfile("WORKDIR")[-1] == TXMON_HOME, "a folder without a dbt project in it"
    assert TXMON_HOME in " ".join(_dockerfile("VOLUME"))
    assert not _dockerfile("HEALTHCHECK"), "health checks belong to each compose service"
    for instruction in ("ENV", "ARG"):
        for arguments in _dockerfile(instruction):
            assert not re.search(r"PASSWORD|SECRET|TOKEN", arguments), arguments


def test_dockerignore_keeps_the_build_inputs() -> None:
    build = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    needed = ["pyproject.toml", "README.md", *build["targets"]["wheel"]["packages"]]
    needed += list(build["targets"]["wheel"].get("force-include", {}))
    for entry in needed:
        path = REPO_ROOT / entry
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(REPO_ROOT).as_posix()
            if "__pycache__" in relative:
                continue
            assert not _dockerignored(relative), f".dockerignore drops {relative}"


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        ".txmon/postgres/data/PG_VERSION",
        ".env",
        "src/txmon/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        "target/manifest.json",
        "test-artifacts/report.xml",
        "tests/python/test_cli.py",
        "shared/data/cloudwalk/transactions.csv",
        "data/transactions.csv",
    ],
)
def test_dockerignore_leaves_out_local_state(path: str) -> None:
    assert _dockerignored(path)


# -- systemd units and cron ------------------------------------------------------------------


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_runs_txmon_hardened(name: str) -> None:
    unit = _unit(name)
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    executable = Path(shlex.split(service["ExecStart"])[0])
    assert executable.is_absolute() and executable.name == "txmon"
    assert executable.parent.name == "bin", "txmon from a virtualenv"
    assert service["User"] not in ("root", "0")
    assert service["EnvironmentFile"] == "/etc/txmon/txmon.env"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert TXMON_HOME in service["ReadWritePaths"].split()
    assert f"TXMON_HOME={TXMON_HOME}" in service["Environment"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_api_listens_on_localhost() -> None:
    argv = shlex.split(_unit("txmon-api.service")["Service"]["ExecStart"])
    assert argv[1] == "serve"
    assert argv[argv.index("--host") + 1] == "127.0.0.1"


def test_cron_runs_build_then_dispatch_every_minute_under_flock() -> None:
    schedule, user, command = _cron_job()
    assert schedule == ["*"] * 5
    assert user == "txmon"
    assert "flock -n " in command, "overlapping runs must be skipped"
    assert re.search(r"/txmon build --quick && \S*/txmon dispatch", command)
    assert re.search(r">> ?\S+\.log 2>&1$", command), "output goes to a log file"
    assert "%" not in command, "cron turns % into a newline"
    shell = shutil.which("sh")
    if shell:
        result = subprocess.run([shell, "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    variables = dict(line.split("=", 1) for line in _cron_entries() if re.match(rf"{NAME}=", line))
    assert variables.get("TXMON_HOME") == TXMON_HOME


def test_systemd_env_example_names_the_database() -> None:
    values = _env_file(DEPLOY / "txmon.env.example")
    assert values["TXMON_DATABASE_URL"].startswith("postgresql://")
    for key, value in values.items():
        if SECRET_NAME.search(key) or URL_CREDENTIALS.search(value):
            assert "change-me" in value, f"{key} looks like a real secret"
