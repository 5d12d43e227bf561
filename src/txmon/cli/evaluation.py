"""Scoring the current build against labelled incidents: `txmon eval LABELS.csv`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from txmon.cli.options import CONTEXT, FilePath
from txmon.core.errors import TxmonError

if TYPE_CHECKING:
    from txmon.evaluation import Evaluation

NOT_SCORED = "-"


@click.command("eval", context_settings=CONTEXT)
@click.argument("labels_file", metavar="LABELS.csv", type=FilePath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_(labels_file: Path, as_json: bool) -> None:
    """Score the current build against labelled incidents: which paged, how late, and the
    pages no label explains (prints figures; exits 0 whatever they are).

    LABELS.csv has the header metric,start,minutes,must_page (further columns are ignored),
    e.g. `failed_rate,2025-07-12 20:00,40,true`; start is UTC unless it has an offset.
    """
    from txmon.db.connection import connect
    from txmon.evaluation import check_metrics, evaluate, read_labels
    from txmon.pipeline.build_state import VIEWS_MISSING, has_relation

    labels = read_labels(labels_file)  # before connecting: a bad file needs no database
    with connect() as conn:
        if not has_relation(conn, "anomaly_episodes"):
            raise TxmonError(VIEWS_MISSING)
        check_metrics(conn, labels_file, labels)
        result = evaluate(conn, labels)
    if as_json:
        click.echo(json.dumps({"labels_file": str(labels_file), **result.to_json()}, indent=2))
        return
    click.echo(labels_table(result))
    click.echo("")
    click.echo("\n".join(summary_lines(result)))


def _minutes(value: int | float | None) -> str:
    return NOT_SCORED if value is None else f"{value:g} min"


def labels_table(result: Evaluation) -> str:
    """One line per label, in file order."""
    from txmon.console.tables import render_table

    header = ("line", "metric", "start (UTC)", "minutes", "must page", "paged", "delay")
    header += ("peak", "to CRITICAL", "episode")
    rows = [
        (
            str(score.label.line),
            score.label.metric,
            f"{score.label.start:%Y-%m-%d %H:%M}",
            str(score.label.minutes),
            "yes" if score.label.must_page else "no",
            "yes" if score.found else "no",
            _minutes(score.delay_minutes),
            score.peak_severity or NOT_SCORED,
            _minutes(score.minutes_to_critical),
            score.episode_id or NOT_SCORED,
        )
        for score in result.labels
    ]
    return render_table(header, rows, right={0, 3, 6, 8})


def summary_lines(result: Evaluation) -> list[str]:
    """The aggregates, one per line."""
    from txmon.evaluation import LABEL_SLACK

    recall = NOT_SCORED if result.recall is None else f"{result.recall:.0%}"
    per_day = result.outside_per_day()
    rate = NOT_SCORED if per_day is None else f"{per_day:.2f} a day"
    slack = int(LABEL_SLACK.total_seconds() // 60)
    return [
        f"recall: {result.found} of {len(result.must_page)} must-page labels paged ({recall})",
        f"median delay to the first page: {_minutes(result.median_delay_minutes)}",
        f"pages: {result.pages} in {result.data_days:.2f} days of data",
        f"pages outside every labelled window (+{slack} min): {result.pages_outside_labels}"
        f" ({rate})",
        f"pages from not-to-page labels: {result.pages_from_not_to_page}",
    ]
