"""Imports txmon's Superset assets (the export bundle under assets/) into a Superset.

Runs with the Python of Superset's own virtualenv:

    python txmon_assets.py import [USERNAME]   # create or update everything, owned by USERNAME
    python txmon_assets.py bundle OUT.zip      # a zip for `superset import-dashboards` or the UI

`import` overwrites the database entry, datasets, charts and dashboard that carry the bundle's
UUIDs, so a second run updates them in place; `superset import-dashboards` would only replace
the dashboard and keep stale charts, datasets and database URI. It then points each chart's
saved query context at the dataset it landed on.

The database URI comes from TXMON_SUPERSET_DATABASE_URI (not an argument, so that its password
stays out of process listings). The datasets read schema `monitoring`, or TXMON_PUBLIC_SCHEMA
when txmon's public views live elsewhere. Used by `txmon superset up` and by the compose service.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
# Superset's importer expects every file under one top-level folder inside the zip.
BUNDLE_ROOT = "txmon_assets"
DATABASE_FILE = Path("databases") / "txmon.yaml"
METADATA_FILE = Path("metadata.yaml")
DATASETS_DIR = "datasets"
# The schema the committed datasets name; TXMON_PUBLIC_SCHEMA replaces it.
ASSETS_SCHEMA = "monitoring"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def public_schema() -> str:
    """The schema of txmon's public views (txmon.core.facts.PUBLIC_SCHEMA)."""
    name = os.environ.get("TXMON_PUBLIC_SCHEMA", "").strip() or ASSETS_SCHEMA
    if not _SCHEMA_NAME.fullmatch(name):
        raise SystemExit(f"txmon_assets: TXMON_PUBLIC_SCHEMA={name!r} is not a schema name")
    return name


def in_schema(dataset: dict[str, Any], schema: str) -> dict[str, Any]:
    """The dataset reading `schema` instead of the committed one."""
    sql = dataset.get("sql")
    if sql:
        dataset["sql"] = re.sub(rf"\b{ASSETS_SCHEMA}\.", f"{schema}.", sql)
    dataset["schema"] = schema
    return dataset


def chart_uuids() -> list[uuid.UUID]:
    return [
        uuid.UUID(str(yaml.safe_load(path.read_text())["uuid"]))
        for path in sorted((ASSETS_DIR / "charts").glob("*.yaml"))
    ]


def bundle_contents(database_uri: str, bundle_type: str) -> dict[str, str]:
    """The bundle's files by path inside the zip, with the database URI filled in."""
    password = unquote(urlsplit(database_uri).password or "")
    schema = public_schema()
    contents = {}
    for path in sorted(ASSETS_DIR.rglob("*.yaml")):
        relative = path.relative_to(ASSETS_DIR)
        document = yaml.safe_load(path.read_text())
        if relative == DATABASE_FILE:
            document["sqlalchemy_uri"] = database_uri
            document["password"] = password
        elif relative == METADATA_FILE:
            document["type"] = bundle_type
        elif relative.parts[0] == DATASETS_DIR:
            document = in_schema(document, schema)
        contents[f"{BUNDLE_ROOT}/{relative.as_posix()}"] = yaml.safe_dump(document, sort_keys=False)
    return contents


def write_bundle(output: Path, database_uri: str) -> None:
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, text in bundle_contents(database_uri, "Dashboard").items():
            bundle.writestr(name, text)


def import_assets(database_uri: str, username: str) -> int:
    """Create or overwrite every asset of the bundle, then link the charts' query contexts."""
    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.test_request_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand

        user = security_manager.find_user(username=username)
        if user is None:
            raise SystemExit(f"txmon_assets: no Superset user {username!r}")
        g.user = user
        contents = {
            name.removeprefix(f"{BUNDLE_ROOT}/"): text
            for name, text in bundle_contents(database_uri, "assets").items()
        }
        ImportAssetsCommand(contents).run()
        return link_query_contexts()


def link_query_contexts() -> int:
    """Point each imported chart's saved query context at the dataset it was imported onto.

    The bundle cannot know the dataset ids an import assigns; without this, the charts'
    `/api/v1/chart/<id>/data` endpoint, reports and cache warm-up would query the wrong dataset.
    Needs an application context.
    """
    from superset import db
    from superset.models.slice import Slice

    linked = 0
    for chart in db.session.query(Slice).filter(Slice.uuid.in_(chart_uuids())).all():
        context = json.loads(chart.query_context or "{}")
        if not context:
            continue
        context["datasource"] = {"id": chart.datasource_id, "type": chart.datasource_type}
        form_data = context.get("form_data") or {}
        form_data["datasource"] = f"{chart.datasource_id}__{chart.datasource_type}"
        form_data["slice_id"] = chart.id
        context["form_data"] = form_data
        chart.query_context = json.dumps(context)
        linked += 1
    db.session.commit()
    return linked


def main(argv: list[str]) -> int:
    database_uri = os.environ.get("TXMON_SUPERSET_DATABASE_URI", "")
    if not database_uri:
        print("txmon_assets: TXMON_SUPERSET_DATABASE_URI is not set", file=sys.stderr)
        return 2
    if len(argv) == 2 and argv[0] == "bundle":
        write_bundle(Path(argv[1]), database_uri)
        return 0
    if argv[:1] == ["import"] and len(argv) <= 2:
        linked = import_assets(database_uri, argv[1] if len(argv) == 2 else "admin")
        print(f"imported txmon's assets; {linked} charts linked to their datasets")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
