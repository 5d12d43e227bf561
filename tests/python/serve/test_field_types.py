"""The loader's field rules as OpenAPI patterns: the schema and the rule agree."""

from __future__ import annotations

import re

import pytest

from txmon.ingest import fields as rules
from txmon.serve.app import create_app


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("2025-07-15T13:44", True),
        ("2025-07-15 13:44:59.123456z", True),
        ("2024-02-29T00:00+14:00", True),
        ("2000-02-29T00:00-1359", True),
        ("1970-01-01T00:00+05", True),
        ("2099-12-31t23:59:59Z", True),
        ("0000-00-00T00:00", False),
        ("2025-07-15T13:44+16:52", False),
        ("2025-07-15T13:44+14:01", False),
        ("2025-07-15T13:44+15", False),
        ("2023-02-29T00:00", False),
        ("2100-02-29T00:00", False),
        ("2025-04-31T00:00", False),
        ("2025-07-15T24:00", False),
        ("2025-07-15T13:60", False),
        ("2025-07-15T13:44:60", False),
        ("1969-12-31T23:59", False),
        ("2100-01-01T00:00", False),
        ("9999-12-31T00:00", False),
        ("2025-07-15T13:44:00.1234567", False),
    ],
)
def test_timestamp_pattern_is_the_loaders_rule(text: str, accepted: bool) -> None:
    document = create_app("postgresql://unused/unused").openapi()
    pattern = document["components"]["schemas"]["CountItem"]["properties"]["timestamp"]["pattern"]
    assert bool(re.search(pattern, text)) is accepted
    if accepted:
        rules.parse_timestamp(text)
    else:
        with pytest.raises(rules.InvalidValue):
            rules.parse_timestamp(text)
