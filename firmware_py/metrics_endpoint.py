"""The box's Prometheus endpoint and the vitals it adds to health, on the box's own event loop.

The endpoint is a small HTTP/1.1 server on asyncio (``GET /metrics``), not prometheus-client's
thread server: a scrape then reads the pipelines' counters and the outbox on the loop that owns
them (SQLite connections and dicts are not for another thread), and a stalled loop shows as a
scrape that times out. A port already in use is one logged error line: the box runs on without
an endpoint (its data matters more than its metrics), and health says ``metrics.listening 0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from edge.pipelines.health import HealthReport, counters_of
from firmware_py import __version__
from firmware_py.config.metrics import MetricsConfig
from firmware_py.metrics import HealthCollector
from firmware_py.runtime_vitals import EventLoopLag, process_vitals

log = logging.getLogger("firmware_py.metrics")

REQUEST_TIMEOUT_S = 5.0
"""A client that has not sent its request headers by then is dropped."""
MAX_REQUEST_BYTES = 16384
PATHS = ("/metrics", "/")


class MetricsEndpoint:
    """Serves ``registry`` at ``GET /metrics`` on ``host``:``port`` until cancelled.

    ``counters`` (health ``metrics.<key>``): ``listening`` (1 or 0), ``scrapes`` served,
    ``bad_requests`` (not HTTP, too long, too slow), ``not_found`` and ``errors`` (a scrape
    whose collection failed: 500).
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self.host = host
        self.port = port
        self._counts: Counter[str] = Counter()
        self._server: asyncio.Server | None = None

    @property
    def counters(self) -> Mapping[str, int]:
        return {"listening": int(self._server is not None), **self._counts}

    async def start(self) -> bool:
        """Listen; False (logged once, one line) when the address cannot be bound."""
        try:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.port, limit=MAX_REQUEST_BYTES
            )
        except OSError as err:
            log.error(
                "cannot listen on %s:%d (%s); running without a metrics endpoint "
                "(set [metrics] port, or enabled = false)",
                self.host,
                self.port,
                err.strerror or err,
            )
            return False
        log.info("serving http://%s:%d/metrics", self.host, self.port)
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):  # closing: nothing left to do about it
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._answer(reader)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: "
                f"{CONTENT_TYPE_LATEST if status.startswith('200') else 'text/plain'}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except ConnectionError:
            self._counts["bad_requests"] += 1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, bytes]:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self._counts["bad_requests"] += 1
            return "400 Bad Request", b"bad request\n"
        parts = request.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            self._counts["bad_requests"] += 1
            return "400 Bad Request", b"bad request\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method != b"GET":
            self._counts["bad_requests"] += 1
            return "405 Method Not Allowed", b"GET only\n"
        if target.decode("ascii", "replace") not in PATHS:
            self._counts["not_found"] += 1
            return "404 Not Found", b"see /metrics\n"
        try:
            text = generate_latest(self._registry)
        except Exception as err:  # a source failing must not take the box down with it
            self._counts["errors"] += 1
            log.error("a scrape failed: %r", err)
            return "500 Internal Server Error", b"collection failed\n"
        self._counts["scrapes"] += 1
        return "200 OK", text


def observe_box(
    health: HealthReport, config: MetricsConfig, *, device: str, role: str
) -> asyncio.Task[None]:
    """Add the event-loop lag (``loop.*``) and process vitals (``process.*``) to ``health``
    and start measuring; with ``config.enabled``, serve ``health`` as metrics too. Returns the
    task doing it (named ``metrics``): cancel it to stop."""
    lag = EventLoopLag()
    health.add("loop", counters_of(lag))
    health.add("process", process_vitals)
    endpoint = None
    if config.enabled:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            HealthCollector(health.snapshot, device=device, role=role, version=__version__)
        )
        endpoint = MetricsEndpoint(registry, config.host, config.port)
        health.add("metrics", counters_of(endpoint))
    return asyncio.create_task(_observe(lag, endpoint), name="metrics")


async def _observe(lag: EventLoopLag, endpoint: MetricsEndpoint | None) -> None:
    if endpoint is not None:
        await endpoint.start()
    try:
        await lag.run()
    finally:
        if endpoint is not None:
            await endpoint.close()
