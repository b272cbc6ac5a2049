"""Fuzz every operation of our own OpenAPI description: no input gets a 5xx, every refusal is
a 4xx whose JSON says why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.web.postgres_read_model import PostgresReadModel
from cloud_bridge.web.read_model import Cursor
from tests.cloud_bridge.postgres_db import fresh_schema, schema_dsn
from tests.cloud_bridge.web.support import (
    KEY_A,
    KEY_BOTH,
    REGION_A,
    T0_NS,
    ServedApi,
    seeded_messages,
    seeded_store,
    served_api,
)

INT64 = 2**63


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApi]:
    if request.param == "sqlite":
        store = seeded_store(tmp_path_factory.mktemp("web-fuzz") / "store.sqlite3")
        with served_api(store) as served:
            yield served
        return
    with fresh_schema() as schema:
        dsn = schema_dsn(schema)
        with PostgresStore(dsn, clock=lambda: T0_NS) as pg:
            pg.store_many(seeded_messages())
        with served_api(PostgresReadModel(dsn)) as served:
            yield served


@pytest.fixture(scope="module")
def operations(api: ServedApi) -> list[tuple[str, list[dict[str, Any]]]]:
    spec = httpx.get(api.url + "/openapi.json", timeout=10).json()
    found = [
        (path, op.get("parameters", []))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method == "get"
    ]
    assert len(found) >= 10
    return found


def values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema allows, near its bounds, and values it does not."""
    kinds = [schema, *schema.get("anyOf", [])]
    valid: list[st.SearchStrategy[Any]] = []
    for kind in kinds:
        if kind.get("type") == "integer":
            low, high = kind.get("minimum", -INT64), kind.get("maximum", INT64 - 1)
            valid.append(st.integers(low, high))
            valid.append(st.sampled_from([low - 1, high + 1, low, high]))
        if kind.get("type") == "string":
            valid.append(
                st.sampled_from(kind.get("enum", ["SPEEDING", REGION_A, "rsu-" + REGION_A]))
            )
    garbage = st.one_of(
        st.text(max_size=80),
        st.integers(-(2**80), 2**80),
        st.floats(allow_nan=True),
        st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
    )
    return st.one_of(*valid, garbage)


cursors = st.builds(
    lambda c, d, b, s: Cursor(c, d, b, s).encode(),
    st.integers(-INT64, INT64 - 1),
    st.text(max_size=20) | st.just("nul\x00"),
    st.text(max_size=20),
    st.integers(-INT64, INT64 - 1),
)


@st.composite
def requests(
    draw: st.DrawFn, operations: list[tuple[str, list[dict[str, Any]]]]
) -> tuple[str, dict[str, str], str]:
    path, parameters = draw(st.sampled_from(operations))
    query: dict[str, str] = {}
    for parameter in parameters:
        value = draw(values(parameter.get("schema", {})))
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", quote(str(value), safe="") or "x")
        elif draw(st.booleans()):
            if parameter["name"] == "cursor" and draw(st.booleans()):
                value = draw(cursors)  # well-formed, with anything inside
            query[parameter["name"]] = str(value)
    key = draw(
        st.sampled_from([KEY_A, KEY_BOTH])
        | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=50)
    )
    return path, query, key


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_operation_answers_every_input_without_a_5xx(
    api: ServedApi, operations: list[tuple[str, list[dict[str, Any]]]], data: st.DataObject
) -> None:
    path, query, key = data.draw(requests(operations))
    response = httpx.get(api.url + path, params=query, headers={"X-API-Key": key}, timeout=10)
    assert response.status_code < 500, (path, query, response.text)
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body["reason"], str), body
        assert body["reason"], body
        assert isinstance(body["detail"], str), body
