"""docker-compose.yml and .env.example, read as YAML and KEY=value: the services, what they
publish, the variables they substitute, their volumes, the commands they run (checked against
the real CLI), and the PostgreSQL and Superset images' files in deploy/."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from typing import Any

import pytest

from conftest import REPO_ROOT
from deploy_files import (
    ENV_EXAMPLE,
    REFERENCE,
    SECRET_NAME,
    TXMON_HOME,
    URL_CREDENTIALS,
    check_txmon_command,
    compose,
    copy_sources,
    dockerfile,
    env_file,
    environment,
    mounts,
    published_ports,
    references,
    service_argv,
    shell_commands,
    strings,
)
from txmon.core.config import load_settings
from txmon.db.roles import READER_ROLE_SQL

SERVICES = ("postgres", "scheduler", "api", "superset")
TXMON_SERVICES = ("scheduler", "api")
INITDB = "/docker-entrypoint-initdb.d"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return compose()


@pytest.fixture(scope="module")
def services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return document["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return env_file(ENV_EXAMPLE)


def test_compose_defines_the_four_services_without_a_version_key(
    document: dict[str, Any],
) -> None:
    assert "version" not in document, "the Compose spec has no version key"
    assert set(SERVICES) <= set(document["services"]), sorted(document["services"])


def test_published_ports_are_bound_to_localhost(services: dict[str, dict[str, Any]]) -> None:
    published = {}
    for name, service in services.items():
        assert service.get("network_mode") != "host", name
        for host_ip, target in published_ports(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {target} beyond localhost"
            published[name] = target
    assert published == {"postgres": "5432", "api": "8000", "superset": "8088"}


def test_the_api_listens_on_the_port_it_publishes(services: dict[str, dict[str, Any]]) -> None:
    argv = service_argv(services["api"])
    assert argv[0] == "serve"
    assert argv[argv.index("--port") + 1] == "8000"
    # Inside the container: published on the host's loopback only, by the ports above.
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


@pytest.mark.parametrize("name", TXMON_SERVICES)
def test_txmon_services_run_commands_the_cli_has(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    check_txmon_command(service_argv(services[name]))


def test_every_variable_is_in_env_example_and_every_example_is_used(
    document: dict[str, Any], env_example: dict[str, str]
) -> None:
    used = {name for text in strings(document) for name, _ in references(text)}
    assert used, "docker-compose.yml substitutes no variables"
    missing, unused = sorted(used - set(env_example)), sorted(set(env_example) - used)
    assert not missing, f"used in docker-compose.yml, missing from .env.example: {missing}"
    assert not unused, f"in .env.example, unused by docker-compose.yml: {unused}"


def test_secrets_are_required_or_empty_never_defaulted(document: dict[str, Any]) -> None:
    for text in strings(document):
        for name, rest in references(text):
            if SECRET_NAME.search(name):
                # ${SECRET:?message} stops compose when unset; ${SECRET:-} is an unused channel.
                assert rest.startswith(":?") or rest in (":-", "-"), f"${{{name}{rest}}}"


def test_no_literal_secrets_in_compose(
    document: dict[str, Any], env_example: dict[str, str]
) -> None:
    for name, service in document["services"].items():
        assert "env_file" not in service, f"{name}: secrets are substituted, not copied whole"
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) or "PASSWORD" in key:
                assert "${" in value, f"{name}: {key} is a literal, not a ${{VARIABLE}}"
    for text in strings(document):
        # What is left once every ${...} is taken out must hold no credentials.
        literal = REFERENCE.sub("", text)
        assert not URL_CREDENTIALS.search(literal), f"a password written into {text!r}"
        assert not re.search(r"(?i)(password|secret|token)\s*[=:]\s*\w", literal), text
    placeholders = {
        value for key, value in env_example.items() if SECRET_NAME.search(key) and value
    }
    texts = list(strings(document))
    assert not [value for value in placeholders if any(value in text for text in texts)]


def test_env_example_holds_placeholders_only(env_example: dict[str, str]) -> None:
    for key, value in env_example.items():
        if SECRET_NAME.search(key) and value:
            assert "change-me" in value, f"{key}={value} looks like a real secret"
    for key in ("POSTGRES_PASSWORD", "TXMON_API_TOKEN", "SUPERSET_SECRET_KEY"):
        assert env_example[key], f"{key} needs a placeholder value"


def test_txmon_database_url_is_built_from_the_postgres_settings(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in TXMON_SERVICES:
        url = environment(services[name])["TXMON_DATABASE_URL"]
        assert url.startswith("postgresql://"), url
        assert {variable for variable, _ in references(url)} == {
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_DB",
        }
        assert "@postgres:5432/" in url


def test_api_token_is_required(services: dict[str, dict[str, Any]]) -> None:
    token = environment(services["api"])["TXMON_API_TOKEN"]
    assert [rest[:2] for _, rest in references(token)] == [":?"]


def test_postgres_api_and_superset_have_health_checks(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services["postgres"]["healthcheck"]["test"]
    assert postgres[0] == "CMD-SHELL" and postgres[1].startswith("pg_isready -h 127.0.0.1")
    for name, port in (("api", 8000), ("superset", 8088)):
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], "the slim images have python, not curl"
        assert f"http://127.0.0.1:{port}/health" in test[3]
        compile(test[3], f"{name} healthcheck", "exec")


def test_services_wait_for_a_healthy_postgres(services: dict[str, dict[str, Any]]) -> None:
    for name in ("scheduler", "api", "superset"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name


def test_long_running_services_restart(services: dict[str, dict[str, Any]]) -> None:
    for name in SERVICES:
        assert services[name]["restart"] == "unless-stopped", name


def test_volumes_are_declared_and_mounted_where_each_image_keeps_its_state(
    document: dict[str, Any],
) -> None:
    declared = set(document["volumes"])
    assert {"pgdata", "txmon-home", "superset-home"} <= declared
    targets = {
        name: {mount.source: mount.target for mount in mounts(service)}
        for name, service in document["services"].items()
    }
    assert targets["postgres"]["pgdata"] == "/var/lib/postgresql/data"
    assert targets["scheduler"]["txmon-home"] == TXMON_HOME
    assert targets["api"]["txmon-home"] == TXMON_HOME
    assert targets["superset"]["superset-home"] == "/app/superset_home"
    for name, service in document["services"].items():
        for mount in mounts(service):
            if mount.source.startswith("."):
                assert (REPO_ROOT / mount.source).exists(), f"{name}: {mount.source}"
                assert mount.read_only, f"{name}: files from the checkout are mounted read-only"
            else:
                assert mount.source in declared, f"{name}: {mount.source}"


def test_scheduler_and_api_run_the_image_built_here(services: dict[str, dict[str, Any]]) -> None:
    for name in TXMON_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name].get("user") in (None, "10001:10001"), name


def test_postgres_is_the_official_image_with_its_settings_from_env(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services["postgres"]
    assert re.fullmatch(r"postgres:1[67](\.\d+)?(-[a-z]+)?", postgres["image"]), postgres["image"]
    values = environment(postgres)
    for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert values[key] == f"${{{key}:?set {key} in .env}}"


def test_postgres_init_scripts_get_the_variables_they_require(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services["postgres"]
    (initdb,) = [mount for mount in mounts(postgres) if mount.target == INITDB]
    scripts = sorted((REPO_ROOT / initdb.source).glob("*.sh"))
    assert scripts, initdb.source
    values = environment(postgres)
    for script in scripts:
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        # `: "${NAME:?...}"` lines: the variables the script cannot run without.
        for name in re.findall(r'"\$\{(\w+):\?', script.read_text()):
            assert name in values, f"{script.name} requires {name}, not given to postgres"


def test_postgres_gets_the_reader_role_sql_that_txmon_runs(
    services: dict[str, dict[str, Any]],
) -> None:
    """The init script and `txmon db reader` define the role with the same file."""
    postgres = services["postgres"]
    (initdb,) = [mount for mount in mounts(postgres) if mount.target == INITDB]
    script = (REPO_ROOT / initdb.source / "10-superset-reader.sh").read_text()
    default = re.search(r'READER_ROLE_SQL="\$\{READER_ROLE_SQL:-(\S+)\}"', script)
    assert default, "the script names where the SQL file is mounted"
    (sql_mount,) = [mount for mount in mounts(postgres) if mount.target == default[1]]
    assert sql_mount.read_only
    packaged = resources.files("txmon").joinpath(READER_ROLE_SQL)
    assert (REPO_ROOT / sql_mount.source).resolve() == REPO_ROOT / "src" / "txmon" / READER_ROLE_SQL
    assert (REPO_ROOT / sql_mount.source).read_text() == packaged.read_text()
    assert re.search(r'--file "\$READER_ROLE_SQL"', script), "the script runs that file"


def test_superset_is_the_official_image_plus_the_postgres_driver(
    services: dict[str, dict[str, Any]],
) -> None:
    superset = services["superset"]
    folder = REPO_ROOT / superset["build"]["context"]
    shared = REPO_ROOT / superset["build"]["additional_contexts"]["txmon-superset"]
    assert shared == REPO_ROOT / "superset", "the same files as `txmon superset up`"
    image = folder / "Dockerfile"
    assert dockerfile("FROM", image) == ["apache/superset:6.1.0"]
    assert any("psycopg2-binary" in run for run in dockerfile("RUN", image))
    assert dockerfile("USER", image)[-1] == "superset", "back to Superset's own user"
    copied = {}
    for arguments in dockerfile("COPY", image):
        flags, sources, destination = copy_sources(arguments)
        base = shared if flags.get("from") == "txmon-superset" else folder
        for source in sources:
            assert (base / source).exists(), source
            copied[destination] = base / source
    (command,) = json.loads(dockerfile("CMD", image)[0])
    bootstrap = copied[command]
    assert bootstrap.stat().st_mode & 0o111
    # The bootstrap imports the dashboard with the helper the image holds.
    run = [
        argv
        for line in bootstrap.read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
        for argv in shell_commands(line)
        if argv[0] == "python"
    ]
    assert [argv[1:3] for argv in run] == [["/app/txmon/txmon_assets.py", "import"]]
    assert copied[run[0][1]] == shared / "txmon_assets.py"
    values = environment(superset)
    assert values["SUPERSET_SECRET_KEY"].startswith("${SUPERSET_SECRET_KEY:?")
    assert values["SUPERSET_ADMIN_PASSWORD"].startswith("${SUPERSET_ADMIN_PASSWORD:?")
    readonly = values["TXMON_SUPERSET_DATABASE_URI"]
    assert {name for name, _ in references(readonly)} == {
        "SUPERSET_READER_USER",
        "SUPERSET_READER_PASSWORD",
        "POSTGRES_DB",
    }


def test_the_default_settings_file_exists_and_loads(document: dict[str, Any]) -> None:
    source = document["configs"]["txmon-settings"]["file"]
    default = re.fullmatch(r"\$\{TXMON_CONFIG_FILE:-(.+)\}", source)
    assert default, source
    settings = load_settings(REPO_ROOT / default[1])
    assert settings.channels
    for name in TXMON_SERVICES:
        service = document["services"][name]
        target = service["configs"][0]["target"]
        assert environment(service)["TXMON_CONFIG"] == target


@pytest.mark.parametrize("folder", ["deploy/postgres/initdb", "deploy/superset"])
def test_shell_scripts_parse(folder: str) -> None:
    shell = shutil.which("sh")
    assert shell, "no sh on this machine"
    scripts = sorted((REPO_ROOT / folder).glob("*.sh"))
    assert scripts
    for path in scripts:
        result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path.name}: {result.stderr}"
