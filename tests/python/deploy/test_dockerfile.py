"""The txmon image: its Dockerfile read instruction by instruction, and the build context
that .dockerignore leaves."""

from __future__ import annotations

import ast
import importlib
import json
import re
import shlex
import tomllib

import pytest

from conftest import REPO_ROOT
from deploy_files import TXMON_HOME, check_txmon_command, dockerfile, dockerignored


def python_snippets() -> list[str]:
    """The code of every `python -c CODE` the image's RUN instructions execute."""
    snippets = []
    for run in dockerfile("RUN"):
        words = shlex.split(run)
        for index, word in enumerate(words[:-2]):
            if word == "python" and words[index + 1] == "-c":
                snippets.append(words[index + 2])
    return snippets


def test_base_image_is_a_pinned_python_311_slim() -> None:
    (base,) = dockerfile("FROM")
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_txmon_runs_as_a_non_root_user_with_the_scheduler_by_default() -> None:
    users = dockerfile("USER")
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert json.loads(dockerfile("ENTRYPOINT")[-1]) == ["txmon"]
    command = json.loads(dockerfile("CMD")[-1])
    assert command == ["run", "--every", "60s"]
    check_txmon_command(command)


def test_the_build_check_imports_what_the_package_has() -> None:
    """The check after `pip install` runs against the installed package: every name it
    imports must exist, or every image build fails."""
    (snippet,) = python_snippets()
    tree = ast.parse(snippet)
    imported = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
                imported += 1
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
                imported += 1
    assert imported


def test_the_package_is_installed_and_state_kept_in_txmon_home() -> None:
    installs = [run for run in dockerfile("RUN") if "pip install" in run]
    assert installs and all("--no-cache-dir" in run for run in installs)
    assert any("txmon --version" in run for run in installs), "the build proves the command runs"
    variables = dict(
        item.split("=", 1) for arguments in dockerfile("ENV") for item in shlex.split(arguments)
    )
    assert variables["TXMON_HOME"] == TXMON_HOME
    assert variables["DO_NOT_TRACK"] == "1"
    assert dockerfile("WORKDIR")[-1] == TXMON_HOME, "a folder without a dbt project in it"
    assert json.loads(dockerfile("VOLUME")[-1]) == [TXMON_HOME]
    assert dockerfile("EXPOSE") == ["8000"]
    assert not dockerfile("HEALTHCHECK"), "health checks belong to each compose service"
    for instruction in ("ENV", "ARG"):
        for arguments in dockerfile(instruction):
            assert not re.search(r"PASSWORD|SECRET|TOKEN", arguments), arguments


def test_the_image_installs_what_the_api_needs() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = " ".join(project["dependencies"])
    for needed in ("fastapi", "uvicorn", "dbt-postgres", "psycopg"):
        assert re.search(rf"\b{needed}\b", requirements, re.IGNORECASE), needed


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
            assert not dockerignored(relative), f".dockerignore drops {relative}"


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        ".txmon/postgres/data/PG_VERSION",
        ".env",
        ".user.yml",
        "src/txmon/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        "target/manifest.json",
        "test-artifacts/report.xml",
        "tests/python/cli/test_cli.py",
        "shared/data/cloudwalk/transactions.csv",
        "data/transactions.csv",
    ],
)
def test_dockerignore_leaves_out_local_state(path: str) -> None:
    assert dockerignored(path)
