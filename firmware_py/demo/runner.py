"""Compose the whole system in one process: broker, bridge, a roadside unit, two cars, and
the radio channel between their C-V2X radios; the bridge serves its dashboard
(``cloud_bridge.web``) with a key made for the run, printed in the dashboard's URL."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.live import Live

from cloud_bridge.errors import BridgeError
from cloud_bridge.service import BridgeService
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.stats import BridgeStats
from cloud_bridge.web.api_keys import hash_key, new_key
from cloud_bridge.web.live_hub import LiveHub
from cloud_bridge.web.server import listening_socket, serve_app, url_of, web_app
from cloud_bridge.web.settings import WebSettings
from firmware_py.box import run_box
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.metrics import MetricsConfig
from firmware_py.config.model import BoxConfig
from firmware_py.demo.air import Air, on_the_air
from firmware_py.demo.monitor import IntersectionView, watch
from firmware_py.demo.summary import one_line, render
from firmware_py.embedded_broker import embedded_broker
from firmware_py.lifecycle import cancel_and_wait, stop_event, wait_for_stop

log = logging.getLogger("firmware_py.demo")

DEMO_BOXES = ("roadside.toml", "vehicle-toyota.toml", "vehicle-toyota-2.toml")
DRAIN_S = 1.0  # after the boxes stop: time for their last messages to reach the store
PLAIN_EVERY_S = 5.0
DASHBOARD_HOST, DASHBOARD_PORT = "127.0.0.1", 8080


def demo_box_configs(broker_port: int, state_dir: Path) -> list[BoxConfig]:
    """The shipped example boxes, pointed at the demo's broker, outboxes in ``state_dir``.

    A fresh state directory per run: a demo should not replay the backlog of an earlier one.
    """
    configs = []
    for name in DEMO_BOXES:
        config = load_box_config(EXAMPLES_DIR / name)
        mqtt = dataclasses.replace(config.uplink.mqtt, host="127.0.0.1", port=broker_port)
        uplink = dataclasses.replace(config.uplink, mqtt=mqtt)
        outbox = dataclasses.replace(
            config.outbox, path=state_dir / f"{config.device.device_id}-outbox.sqlite3"
        )
        # One process, several boxes: none takes the metrics port (the demo shows its own view).
        observability = dataclasses.replace(
            config.observability, metrics=MetricsConfig(enabled=False)
        )
        configs.append(
            dataclasses.replace(config, uplink=uplink, outbox=outbox, observability=observability)
        )
    return on_the_air(configs)


async def run_demo(
    duration_s: float | None,
    store: Path,
    console: Console | None = None,
    *,
    stats: BridgeStats | None = None,
    on_dashboard: Callable[[str], None] | None = None,
) -> int:
    """Run the demo until Ctrl-C/SIGTERM or ``duration_s``; returns messages stored.

    ``stats`` (a new one by default) are the bridge's; ``on_dashboard`` gets the dashboard's
    URL (with its key) once it is served.
    """
    console = console or Console()
    stop = stop_event()
    stats = stats or BridgeStats()
    view = IntersectionView()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="roadgate-demo-") as state_dir:
        stored = await _run(
            console, store, Path(state_dir), stop, stats, view, duration_s, on_dashboard
        )
    console.print(
        f"RoadGate demo stopped after {time.monotonic() - started:.1f} s: "
        f"{len(view.devices)} devices, {stored} messages stored in {store}, "
        f"{view.event_count} events, {stats.snapshot().rejected_total} rejected",
        soft_wrap=True,
    )
    return stored


async def _run(
    console: Console,
    store: Path,
    state_dir: Path,
    stop: asyncio.Event,
    stats: BridgeStats,
    view: IntersectionView,
    duration_s: float | None,
    on_dashboard: Callable[[str], None] | None = None,
) -> int:
    started = time.monotonic()
    async with embedded_broker() as port:
        log.info("embedded MQTT broker on 127.0.0.1:%d, store %s", port, store)
        settings = BridgeSettings(
            # The embedded broker (amqtt) speaks MQTT 3.1.1 only.
            dataclasses.replace(
                BRIDGE_MQTT, port=port, client_id="roadgate-demo-bridge", mqtt5=False
            ),
            store,
        )
        # The dashboard follows what the bridge stores, through the bridge's own live hub.
        hub = LiveHub()
        bridge = BridgeService(settings, stats, on_stored=hub.publish)
        configs = demo_box_configs(port, state_dir)
        key = new_key()  # this run's only key: printed in the dashboard's URL
        regions = sorted({c.device.region for c in configs})
        web = WebSettings(api_key_hashes={r: (hash_key(key),) for r in regions})
        sock = _dashboard_socket()
        bridge_ready, monitor_ready, web_ready = asyncio.Event(), asyncio.Event(), asyncio.Event()
        bridge_task = asyncio.create_task(bridge.run(bridge_ready), name="bridge")
        monitor_task = asyncio.create_task(
            watch("127.0.0.1", port, view, monitor_ready), name="monitor"
        )
        web_task = asyncio.create_task(
            serve_app(web_app(settings, web, hub), sock, web_ready), name="dashboard"
        )
        try:
            await _first(bridge_ready, bridge_task)
            await _first(monitor_ready, monitor_task)
            await _first(web_ready, web_task)
            dashboard = f"{url_of(sock)}/#region={regions[0]}&key={key}"
            console.print(f"Dashboard: {dashboard}", soft_wrap=True)
            if on_dashboard is not None:
                on_dashboard(dashboard)
            async with Air(configs):
                boxes = [asyncio.create_task(run_box(c), name=c.device.device_id) for c in configs]
                watched = [bridge_task, monitor_task, web_task, *boxes]
                try:
                    await _show(console, view, stats, started, stop, duration_s, watched)
                finally:
                    await cancel_and_wait(*boxes)
                    await asyncio.sleep(DRAIN_S)
        finally:
            await cancel_and_wait(web_task, bridge_task, monitor_task)
            sock.close()
    return stats.snapshot().stored


def _dashboard_socket() -> socket.socket:
    """The dashboard's socket: ``DASHBOARD_PORT`` on loopback, or any free port if that one is
    taken (another demo, say)."""
    try:
        return listening_socket(DASHBOARD_HOST, DASHBOARD_PORT)
    except BridgeError:
        return listening_socket(DASHBOARD_HOST, 0)


async def _first(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for ``event``; if ``task`` ends first, raise its error."""
    waiter = asyncio.create_task(event.wait(), name=f"{task.get_name()}-ready")
    done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
        raise RuntimeError(f"{task.get_name()} stopped before it was ready")


async def _show(
    console: Console,
    view: IntersectionView,
    stats: BridgeStats,
    started: float,
    stop: asyncio.Event,
    duration_s: float | None,
    watched: list[asyncio.Task[None]],
) -> None:
    """Refresh the summary until stopped; a crashed component stops the demo with its error."""
    deadline = asyncio.create_task(wait_for_stop(stop, duration_s), name="demo-deadline")
    interactive = console.is_terminal and sys.stdout.isatty()
    refresh = 0.5 if interactive else PLAIN_EVERY_S
    live = Live(console=console, auto_refresh=False) if interactive else None
    if live is not None:
        live.start()
        # Log records must go through the live display, or they tear its redraws apart.
        _route_logging_to(console)
    try:
        while not deadline.done():
            await asyncio.wait(
                [deadline, *watched], timeout=refresh, return_when=asyncio.FIRST_COMPLETED
            )
            for task in watched:
                if task.done():
                    deadline.cancel()
                    task.result()
                    raise RuntimeError(f"{task.get_name()} stopped unexpectedly")
            elapsed = time.monotonic() - started
            if live is not None:
                live.update(render(view, stats.snapshot(), elapsed), refresh=True)
            else:
                console.print(one_line(view, stats.snapshot(), elapsed), soft_wrap=True)
    finally:
        if live is not None:
            live.stop()


def _route_logging_to(console: Console) -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(RichHandler(console=console, show_path=False))
