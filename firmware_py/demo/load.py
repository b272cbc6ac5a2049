"""Does the dashboard's live stream slow the bridge down? ``python -m firmware_py.demo.load``.

Runs the demo (broker, bridge with its API, a roadside unit, two cars) twice for the same
window: once with no live client, once with ``--clients`` WebSocket clients on the demo's
region, run in a separate process (so that they do not share the bridge's CPU time slice in
this one). Prints the bridge's ingest rate (messages stored per second) of each run, what the
clients received, and the difference; exits 1 when the rate with clients is more than
``--tolerance`` below the rate without.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from rich.console import Console
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from cloud_bridge.stats import BridgeStats
from firmware_py.demo.runner import run_demo


@dataclass(frozen=True)
class LoadRun:
    """One run: the bridge's ingest rate, and what its live clients received."""

    clients: int
    stored_per_s: float
    received_per_client_per_s: float
    clients_dropped: int


async def measure(clients: int, warmup_s: float, window_s: float, store: Path) -> LoadRun:
    """Run the demo with ``clients`` live clients; the ingest rate over ``window_s`` after
    ``warmup_s``."""
    stats = BridgeStats()
    dashboard: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    demo = asyncio.create_task(
        run_demo(
            None, store, Console(file=io.StringIO()), stats=stats, on_dashboard=dashboard.set_result
        ),
        name="load-demo",
    )
    try:
        url = await asyncio.wait_for(asyncio.shield(dashboard), 60)
        readers = None
        if clients:
            readers = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "firmware_py.demo.load",
                "--clients-only",
                url,
                "--clients",
                str(clients),
                "--window",
                str(warmup_s + window_s + 5.0),
                stdout=asyncio.subprocess.PIPE,
            )
        await asyncio.sleep(warmup_s)
        first = stats.snapshot().stored
        await asyncio.sleep(window_s)
        stored = stats.snapshot().stored - first
        received, dropped = 0.0, 0
        if readers is not None:
            out, _ = await readers.communicate()
            report = json.loads(out.decode().strip().splitlines()[-1])
            received, dropped = report["per_client_per_s"], report["dropped"]
    finally:
        demo.cancel()
        await asyncio.gather(demo, return_exceptions=True)
    return LoadRun(clients, stored / window_s, received, dropped)


async def run_clients(url: str, clients: int, window_s: float) -> dict[str, float]:
    """``clients`` live clients of the dashboard at ``url`` for ``window_s``; what they got."""
    base, _, fragment = url.partition("/#")
    query = parse_qs(fragment)
    key, region = query["key"][0], query["region"][0]
    live = base.replace("http://", "ws://") + f"/api/v1/regions/{region}/live"
    counts = [0] * clients
    dropped = 0

    async def client(index: int) -> None:
        nonlocal dropped
        try:
            async with connect(live) as ws:
                await ws.send(json.dumps({"key": key}))
                async for _ in ws:
                    counts[index] += 1
        except ConnectionClosed:
            dropped += 1

    tasks = [asyncio.create_task(client(i), name=f"load-client-{i}") for i in range(clients)]
    started = time.monotonic()
    await asyncio.sleep(window_s)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.monotonic() - started
    return {"per_client_per_s": sum(counts) / clients / elapsed, "dropped": dropped}


async def compare(clients: int, warmup_s: float, window_s: float) -> tuple[LoadRun, LoadRun]:
    with tempfile.TemporaryDirectory(prefix="roadgate-load-") as tmp:
        quiet = await measure(0, warmup_s, window_s, Path(tmp) / "quiet.sqlite3")
        loaded = await measure(clients, warmup_s, window_s, Path(tmp) / "loaded.sqlite3")
    return quiet, loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_py.demo.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--clients-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clients_only:
        report = asyncio.run(run_clients(args.clients_only, args.clients, args.window))
        print(json.dumps(report))
        return 0
    quiet, loaded = asyncio.run(compare(args.clients, args.warmup, args.window))
    change = (loaded.stored_per_s - quiet.stored_per_s) / quiet.stored_per_s
    print(f"without live clients: {quiet.stored_per_s:.1f} msg/s stored")
    print(
        f"with {loaded.clients} live clients: {loaded.stored_per_s:.1f} msg/s stored; each "
        f"client received {loaded.received_per_client_per_s:.1f} msg/s, "
        f"{loaded.clients_dropped} dropped"
    )
    print(f"ingest rate change: {change:+.1%} (tolerance -{args.tolerance:.0%})")
    return 0 if change >= -args.tolerance and loaded.clients_dropped == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
