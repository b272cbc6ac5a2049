"""The read API over a real SQLite store and a real PostgreSQL one, served by uvicorn: data,
pagination, keys, regions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.web.postgres_read_model import PostgresReadModel
from cloud_bridge.web.read_model import Cursor
from tests.cloud_bridge.postgres_db import fresh_schema, schema_dsn
from tests.cloud_bridge.web.support import (
    KEY_A,
    KEY_B,
    KEY_BOTH,
    REGION_A,
    REGION_B,
    T0_NS,
    ServedApi,
    seeded_messages,
    seeded_store,
    served_api,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApi]:
    """The API over each store kind, holding the same messages: every test runs on both."""
    if request.param == "sqlite":
        store = seeded_store(tmp_path_factory.mktemp("web-api") / "store.sqlite3")
        with served_api(store, max_page=50) as served:
            yield served
        return
    with fresh_schema() as schema:
        dsn = schema_dsn(schema)
        with PostgresStore(dsn, clock=lambda: T0_NS) as pg:
            pg.store_many(seeded_messages())
        with served_api(PostgresReadModel(dsn), max_page=50) as served:
            yield served


def get(api: ServedApi, path: str, key: str | None = KEY_A, **params: Any) -> httpx.Response:
    headers = {} if key is None else {"X-API-Key": key}
    return httpx.get(api.url + path, headers=headers, params=params, timeout=10)


def test_health_needs_no_key(api: ServedApi) -> None:
    response = get(api, "/healthz", key=None)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_devices_have_status_last_seen_and_health(api: ServedApi) -> None:
    body = get(api, f"/api/v1/regions/{REGION_A}/devices").json()
    devices = {d["device_id"]: d for d in body["items"]}
    assert set(devices) == {f"rsu-{REGION_A}", f"car-{REGION_A}"}
    rsu = devices[f"rsu-{REGION_A}"]
    assert rsu["role"] == "DEVICE_ROLE_ROADSIDE_UNIT"
    assert rsu["liveness"] == "LIVENESS_ONLINE"
    assert rsu["last_seen_ns"] is not None
    assert rsu["health"]["cpu_load"] == 0.25
    assert devices[f"car-{REGION_A}"]["health"] is None


def test_latest_tracks_spat_and_intersection(api: ServedApi) -> None:
    tracks = get(api, f"/api/v1/regions/{REGION_A}/tracks").json()["items"]
    assert len(tracks) == 1
    assert tracks[0]["body"]["kind"] == "OBJECT_LIST_KIND_FUSED"
    assert tracks[0]["body"]["objects"][0]["x_m"] == 4.0  # the newest of 0..4
    sensor = get(api, f"/api/v1/regions/{REGION_A}/tracks", kind="sensor").json()["items"]
    assert sensor[0]["body"]["sensor_id"] == "radar0"
    one = get(api, f"/api/v1/regions/{REGION_A}/devices/rsu-{REGION_A}/objects").json()
    assert one["items"] == tracks
    spat = get(api, f"/api/v1/regions/{REGION_A}/spat").json()["items"]
    assert spat[0]["body"]["phases"][0]["state"] == "SIGNAL_STATE_RED"  # i = 4, not the glitch
    geometry = get(api, f"/api/v1/regions/{REGION_A}/intersections").json()["items"]
    assert geometry[0]["body"]["name"] == f"x-{REGION_A}"


def test_vehicle_states_by_time_range(api: ServedApi) -> None:
    path = f"/api/v1/regions/{REGION_A}/devices/car-{REGION_A}/states"
    every = get(api, path).json()["items"]
    assert [s["body"].get("speed_mps", 0.0) for s in every] == [0.0, 1.0, 2.0, 3.0, 4.0]
    middle = every[1]["capture_time_ns"], every[3]["capture_time_ns"]
    ranged = get(api, path, from_ns=middle[0], to_ns=middle[1]).json()["items"]
    assert [s["body"]["speed_mps"] for s in ranged] == [1.0, 2.0, 3.0]


def test_events_page_by_page_and_by_type(api: ServedApi) -> None:
    path = f"/api/v1/regions/{REGION_A}/events"
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor is not None:
            params["cursor"] = cursor
        body = get(api, path, **params).json()
        seen += [e["body"]["event_id"] for e in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"{REGION_A}-{i}" for i in range(30)]
    assert pages == 5  # 7 + 7 + 7 + 7 + 2
    red = get(api, path, type="RED_LIGHT_VIOLATION").json()["items"]
    assert [e["body"]["event_id"] for e in red] == [f"{REGION_A}-{i}" for i in range(0, 30, 3)]
    assert get(api, path, type="EVENT_TYPE_SPEEDING").json()["items"][0]["body"]["type"] == (
        "EVENT_TYPE_SPEEDING"
    )


def test_loss_per_device(api: ServedApi) -> None:
    body = get(api, f"/api/v1/regions/{REGION_A}/devices/rsu-{REGION_A}/loss").json()
    assert body["delivered"] == 2 + 15 + 1 + 30  # its status is numbered apart, not counted
    assert body["missing"] == 0
    assert len(body["boots"]) == 1


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"limit": 0}, "invalid_parameter"),
        ({"limit": 51}, "invalid_parameter"),  # over this server's max_page
        ({"from_ns": 2**63}, "invalid_parameter"),
        ({"from_ns": "soon"}, "invalid_parameter"),
        ({"cursor": "not-a-cursor"}, "bad_cursor"),
        ({"cursor": Cursor(0, "a\x00b", "boot", 1).encode()}, "bad_cursor"),
        ({"type": "ALIENS"}, "unknown_event_type"),
    ],
)
def test_bad_parameters_get_a_reason(api: ServedApi, params: dict[str, Any], reason: str) -> None:
    response = get(api, f"/api/v1/regions/{REGION_A}/events", **params)
    assert response.status_code == 400
    assert response.json()["reason"] == reason
    assert response.json()["detail"]


def test_unknown_paths_and_methods_get_a_reason(api: ServedApi) -> None:
    assert get(api, "/api/v1/nothing").json()["reason"] == "not_found"
    response = httpx.post(api.url + "/healthz", timeout=10)
    assert (response.status_code, response.json()["reason"]) == (405, "method_not_allowed")
    bad_region = get(api, "/api/v1/regions/a%2Fb/devices")
    assert bad_region.status_code in (400, 404)
    assert "reason" in bad_region.json()


def data_paths(api: ServedApi, region: str) -> list[str]:
    """Every data path of the OpenAPI description, filled in for ``region``."""
    spec = httpx.get(api.url + "/openapi.json", timeout=10).json()
    paths = [p for p in spec["paths"] if p.startswith("/api/v1/regions/{region}")]
    assert len(paths) >= 8, paths
    return [p.replace("{region}", region).replace("{device_id}", f"rsu-{region}") for p in paths]


def test_no_path_reads_another_region(api: ServedApi) -> None:
    for path in data_paths(api, REGION_A):
        assert get(api, path, key=KEY_A).status_code == 200, path
        assert get(api, path, key=KEY_BOTH).status_code == 200, path
        refused = get(api, path, key=KEY_B)
        assert refused.status_code == 403, path
        assert refused.json()["reason"] == "region_not_allowed"
        assert get(api, path, key=None).json()["reason"] == "missing_api_key"
        assert get(api, path, key="guess").json()["reason"] == "unknown_api_key"
    regions = get(api, "/api/v1/regions", key=KEY_BOTH).json()["regions"]
    assert regions == [REGION_A, REGION_B]


def test_a_region_only_returns_its_own_rows(api: ServedApi) -> None:
    """Even a device id of region B asked for under region A returns nothing of B."""
    path = f"/api/v1/regions/{REGION_A}/devices/car-{REGION_B}/states"
    assert get(api, path, key=KEY_A).json()["items"] == []
    for item in get(api, f"/api/v1/regions/{REGION_A}/events", key=KEY_BOTH).json()["items"]:
        assert item["region"] == REGION_A


def test_openapi_describes_the_key_and_the_errors(api: ServedApi) -> None:
    spec = httpx.get(api.url + "/openapi.json", timeout=10).json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    events = spec["paths"]["/api/v1/regions/{region}/events"]["get"]
    assert {"400", "401", "403"} <= set(events["responses"])
    assert httpx.get(api.url + "/docs", timeout=10).status_code == 404  # no CDN-loaded UI
