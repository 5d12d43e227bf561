"""The response schemas are the domain dataclasses, documented, not copies of them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, get_args

import pytest
from pydantic import TypeAdapter

from txmon.alerting.log import LogEntry
from txmon.pipeline.build_state import Health
from txmon.pipeline.views import Episode, MetricStatus, MinutePoint
from txmon.serve.app import create_app
from txmon.serve.models import PROBLEM_CODES, Documented, ProblemCode


@dataclass(frozen=True)
class Point:
    """A point on a line."""

    x: int


def test_documented_adds_descriptions_to_fields_the_type_has() -> None:
    schema = TypeAdapter(
        Annotated[Point, Documented(x={"description": "Across.", "examples": [3]})]
    ).json_schema()
    assert schema["description"] == "A point on a line."
    assert schema["properties"]["x"]["description"] == "Across."
    assert schema["properties"]["x"]["examples"] == [3]
    with pytest.raises(KeyError, match="no field 'y'"):
        TypeAdapter(Annotated[Point, Documented(y="Up.")]).json_schema()


def test_the_domain_types_are_the_response_schemas() -> None:
    schemas = create_app("postgresql://unused/unused").openapi()["components"]["schemas"]
    for domain in (MetricStatus, Episode, MinutePoint, Health, LogEntry):
        schema = schemas[domain.__name__]
        assert list(schema["properties"]) == [field.name for field in fields(domain)]
        assert schema["description"]
    status = schemas["MetricStatus"]["properties"]
    assert status["baseline_mode"]["description"] == "trailing or prototype."
    assert status["severity"]["description"] == "HEALTHY, INFO, WARNING, CRITICAL or SEVERE."
    assert schemas["Episode"]["properties"]["episode_id"]["examples"]


def test_every_problem_code_is_in_the_schema_and_explained() -> None:
    assert get_args(ProblemCode) == tuple(PROBLEM_CODES)
