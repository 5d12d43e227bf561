"""How well a build detects what a user knows happened: labelled incidents read from a CSV
(`labels`) and scored against the published episodes and alert events (`scoring`).

May import: `txmon.pipeline`, `txmon.ingest`, `txmon.db`, `txmon.core`.
"""

from txmon.evaluation.labels import Label, LabelsError, check_metrics, read_labels
from txmon.evaluation.scoring import LABEL_SLACK, Evaluation, LabelScore, evaluate

__all__ = [
    "LABEL_SLACK",
    "Evaluation",
    "Label",
    "LabelScore",
    "LabelsError",
    "check_metrics",
    "evaluate",
    "read_labels",
]
