"""How long the API's queries take on a SQLite store of 200,000 messages (one roadside unit's
fused lists, one car's states, an event every 100): ``python -m tests.cloud_bridge.web.bench_api``.

Prints the mean of three requests per endpoint, after a first one.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from cloud_bridge.store.sqlite_store import SqliteStore
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.web.support import (
    KEY_A,
    REGION_A,
    T0_NS,
    Sequencer,
    event,
    fused,
    rsu_status,
    served_api,
    vehicle_status,
)

ENDPOINTS: list[tuple[str, dict[str, str | int]]] = [
    ("/devices", {}),
    ("/tracks", {}),
    ("/spat", {}),
    ("/events", {"limit": 100}),
    ("/events", {"type": "SPEEDING", "limit": 100}),
    ("/devices/car-big/states", {"limit": 1000}),
    ("/devices/rsu-big/loss", {}),
]


def big_store(path: Path, pairs: int = 100_000) -> int:
    rsu, car = Sequencer(REGION_A, "rsu-big"), Sequencer(REGION_A, "car-big")
    stored = 0
    with SqliteStore(path) as store:
        store.store_many([(rsu.next(rsu_status()), T0_NS), (car.next(vehicle_status()), T0_NS)])
        for start in range(0, pairs, 2500):
            items = []
            for n in range(start, min(start + 2500, pairs)):
                items.append((rsu.next(fused(float(n % 50))), T0_NS + n))
                items.append((car.next(pb.VehicleState(speed_mps=5.0)), T0_NS + n))
                if n % 100 == 0:
                    items.append((rsu.next(event(pb.EVENT_TYPE_SPEEDING, str(n))), T0_NS + n))
            stored += sum(store.store_many(items))
    return stored + 2


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="roadgate-bench-api-") as tmp:
        path = Path(tmp) / "big.sqlite3"
        rows = big_store(path)
        print(f"{rows} messages, {path.stat().st_size / 1e6:.0f} MB")
        headers = {"X-API-Key": KEY_A}
        with served_api(path) as api, httpx.Client(headers=headers, timeout=60) as http:
            for path_part, params in ENDPOINTS:
                url = f"{api.url}/api/v1/regions/{REGION_A}{path_part}"
                http.get(url, params=params)
                started = time.perf_counter()
                for _ in range(3):
                    response = http.get(url, params=params)
                mean_ms = (time.perf_counter() - started) / 3 * 1000
                print(f"{path_part} {params}: {mean_ms:.0f} ms, {len(response.content)} bytes")


if __name__ == "__main__":
    main()
