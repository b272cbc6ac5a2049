"""Run the API on uvicorn in the bridge's event loop, beside the ``BridgeService`` it watches.

One process, one loop: the bridge hands each committed batch to the ``LiveHub`` directly, and
the API's queries run on uvicorn's thread pool so that a scan never delays ingest. Signals stay
with the caller (``firmware_py.lifecycle``): cancelling :func:`run_bridge_with_web` stops the
HTTP server first (open connections get ``SHUTDOWN_S`` to end), then the bridge, which commits
what it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Generator

import uvicorn
from fastapi import FastAPI

from cloud_bridge.errors import BridgeError
from cloud_bridge.service import BridgeService
from cloud_bridge.settings import BridgeSettings
from cloud_bridge.stats import BridgeStats
from cloud_bridge.web.api import build_app
from cloud_bridge.web.api_keys import KeyRing
from cloud_bridge.web.live_hub import LiveHub
from cloud_bridge.web.read_model import ReadModel, SqliteReadModel
from cloud_bridge.web.settings import WebSettings

_LOG = logging.getLogger(__name__)
SHUTDOWN_S = 2.0
MAX_CLIENT_MESSAGE_BYTES = 4096  # a live client sends its key and nothing else


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process's stop is the caller's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0: one the system picks).

    Raises ``BridgeError`` when the address cannot be bound (in use, not this machine's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as err:
        raise BridgeError(f"cannot serve HTTP on {host}:{port}: {err.strerror or err}") from err


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a listening socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_app(
    app: FastAPI, sock: socket.socket, started: asyncio.Event | None = None
) -> None:
    """Serve ``app`` on ``sock`` until cancelled; set ``started`` once it accepts."""
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,  # the process's logging setup stays as it is
        access_log=False,
        ws_max_size=MAX_CLIENT_MESSAGE_BYTES,
        timeout_graceful_shutdown=int(SHUTDOWN_S),
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="web-server")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        if started is not None:
            started.set()
        await asyncio.shield(task)
    finally:
        if not task.done():
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_S + 1.0)
            except TimeoutError:
                server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def read_model_for(settings: BridgeSettings) -> ReadModel:
    """The read model of the bridge's store: PostgreSQL when ``store_dsn`` is set."""
    if settings.store_dsn is not None:
        # Imported here: psycopg only matters to bridges on PostgreSQL.
        from cloud_bridge.web.postgres_read_model import PostgresReadModel

        return PostgresReadModel(settings.store_dsn)
    return SqliteReadModel(settings.store_path)


def web_app(settings: BridgeSettings, web: WebSettings, hub: LiveHub) -> FastAPI:
    """The API over the bridge's store and ``hub``."""
    return build_app(
        read_model_for(settings), hub, KeyRing(web.api_key_hashes), max_page=web.max_page
    )


async def run_bridge_with_web(
    settings: BridgeSettings,
    web: WebSettings,
    *,
    stats: BridgeStats | None = None,
    ready: asyncio.Event | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run a bridge and its API until cancelled; ``announce`` gets the URL once it listens.

    Raises ``BridgeError`` if the address cannot be bound, ``StoreError`` as the bridge does.
    """
    hub = LiveHub(web.client_queue, web.max_clients)
    app = web_app(settings, web, hub)
    service = BridgeService(settings, stats, on_stored=hub.publish)
    sock = listening_socket(web.host, web.port)
    bridge_ready, web_started = asyncio.Event(), asyncio.Event()
    bridge = asyncio.create_task(service.run(bridge_ready), name="bridge")
    http = asyncio.create_task(serve_app(app, sock, web_started), name="web")
    try:
        await _first(web_started, http)
        url = url_of(sock)
        _LOG.info("HTTP API and dashboard on %s", url)
        if announce is not None:
            announce(url)
        await _first(bridge_ready, bridge)
        if ready is not None:
            ready.set()
        done, _ = await asyncio.wait([bridge, http], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
        raise RuntimeError(f"{next(iter(done)).get_name()} stopped unexpectedly")
    finally:
        for task in (http, bridge):  # the API first: the bridge then commits what it has
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        sock.close()


async def _first(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for ``event``; if ``task`` ends first, raise its error."""
    waiter = asyncio.create_task(event.wait(), name=f"{task.get_name()}-ready")
    try:
        done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task in done:
        task.result()
        raise RuntimeError(f"{task.get_name()} stopped before it was ready")
