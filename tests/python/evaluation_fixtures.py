"""A database with a day and a half of built traffic and a labels file for it, shared by the
evaluation tests (tests/python/evaluation) and those of `txmon eval` (tests/python/cli).

Test modules load it with `pytest_plugins = ["evaluation_fixtures"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import REPO_ROOT
from evaluation_helpers import BURST, LABELS_HEADER, START, SURGE, Built, label_line
from helpers import build, load_config
from txmon.db.connection import create_database, drop_database
from txmon.lab import generate


@pytest.fixture(scope="session")
def built_traffic(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    folder = tmp_path_factory.mktemp("evaluation")
    url = create_database(server_url, "txmon_eval")
    config = generate.GeneratorConfig(days=1.5, seed=11, start=START, incidents=(SURGE, BURST))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TXMON_HOME", str(folder / "home"))
            patch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
            load_config(url, folder, config)
            build(url)
        labels = folder / "incidents.csv"
        labels.write_text(LABELS_HEADER + label_line(SURGE, True) + label_line(BURST, False))
        yield Built(url, folder / "home", labels)
    finally:
        drop_database(server_url, url)
