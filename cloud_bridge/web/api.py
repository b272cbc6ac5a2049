"""The bridge's HTTP API (FastAPI): read endpoints per region, a live WebSocket, the dashboard.

Every data path starts ``/api/v1/regions/{region}/`` and needs an ``X-API-Key`` header whose
key may read that region (``/healthz`` needs none; the dashboard's files hold no data). Every
bad request gets a 4xx whose JSON body is ``{"reason": ..., "detail": ...}``: ``reason`` is
machine-readable (``invalid_parameter``, ``bad_cursor``, ``unknown_event_type``,
``missing_api_key``, ``unknown_api_key``, ``region_not_allowed``, ``not_found``,
``method_not_allowed``); a store that cannot be read is a 503 ``store_unavailable``.

The live stream, ``/api/v1/regions/{region}/live`` (WebSocket): the client sends
``{"key": "<api key>"}`` first (browsers cannot set headers on a WebSocket), then receives one
JSON object per message the bridge stores in that region (see ``live_hub.live_text``), starting
with the newest of each device and stream. A client that falls ``client_queue`` messages behind
is closed with code 1013 (``DROPPED_CODE``).
"""

# No "from __future__ import annotations": FastAPI reads the local Annotated aliases at run time.
import asyncio
import contextlib
import json
from collections.abc import Callable
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketState

from cloud_bridge.errors import StoreError
from cloud_bridge.web.api_keys import KeyRing
from cloud_bridge.web.live_hub import DROPPED, LiveClient, LiveHub, TooManyClientsError
from cloud_bridge.web.read_model import (
    Cursor,
    DeviceRow,
    HistoryQuery,
    MessageRow,
    ReadModel,
    cursor_of,
)
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SEGMENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AUTH_TIMEOUT_S = 5.0
T = TypeVar("T")
DROPPED_CODE = 1013  # "try again later": the client was too slow
CLOSE_TIMEOUT_S = 5.0
POLICY_CODE = 1008  # a missing or wrong key


class ApiError(Exception):
    """A request the API refuses: HTTP ``status`` with a machine-readable ``reason``."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


class Problem(BaseModel):
    """Why a request was refused."""

    reason: str
    detail: str


class Message(BaseModel):
    """One stored message; ``body`` is its Envelope body in protobuf's JSON form."""

    device_id: str
    boot_id: str
    sequence: int
    stream: str
    region: str
    capture_time_ns: int
    received_time_ns: int
    historical: bool
    clock_suspect: bool
    body: dict[str, Any]


class MessagePage(BaseModel):
    items: list[Message]
    next_cursor: str | None = None


class LatestMessages(BaseModel):
    items: list[Message]


class Loss(BaseModel):
    """Loss accounting of one boot (see ``cloud_bridge.store.records.LossRecord``)."""

    boot_id: str
    first_sequence: int | None
    last_sequence: int | None
    delivered: int
    duplicates: int
    missing: int
    missing_before: int


class DeviceLoss(BaseModel):
    device_id: str
    delivered: int
    duplicates: int
    missing: int
    boots: list[Loss]


class Device(BaseModel):
    """A device's status, when it was last heard (bridge clock, ns) and its latest health."""

    device_id: str
    region: str
    role: str
    liveness: str
    software_version: str
    status_time_ns: int
    last_seen_ns: int | None
    health: dict[str, Any] | None


class DevicePage(BaseModel):
    items: list[Device]
    next_cursor: str | None = None


class Regions(BaseModel):
    regions: list[str]


class Health(BaseModel):
    status: str
    live_clients: int


class ObjectKind(StrEnum):
    FUSED = "fused"
    SENSOR = "sensor"


_KIND_NAMES = {
    ObjectKind.FUSED: "OBJECT_LIST_KIND_FUSED",
    ObjectKind.SENSOR: "OBJECT_LIST_KIND_SENSOR",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (400, "a parameter is invalid"),
        (401, "no API key, or one that is not configured"),
        (403, "the key may not read this region"),
        (503, "the store cannot be read"),
    )
}

RegionPath = Annotated[str, PathParam(pattern=SEGMENT, description="a region id")]
DevicePath = Annotated[str, PathParam(pattern=SEGMENT, description="a device id")]
FromNs = Annotated[
    int, Query(ge=INT64_MIN, le=INT64_MAX, description="earliest capture time, ns since 1970")
]
ToNs = Annotated[
    int, Query(ge=INT64_MIN, le=INT64_MAX, description="latest capture time, ns since 1970")
]
CursorParam = Annotated[
    str | None, Query(max_length=1024, description="next_cursor of the previous page")
]


def build_app(
    read_model: ReadModel,
    hub: LiveHub,
    keys: KeyRing,
    *,
    max_page: int = 1000,
    static_dir: Path | None = None,
) -> FastAPI:
    """The application over ``read_model`` and ``hub``, guarded by ``keys``."""
    app = FastAPI(
        title="RoadGate bridge API",
        version="1",
        description=__doc__,
        docs_url=None,  # Swagger UI and ReDoc load from CDNs: the dashboard ships no such thing
        redoc_url=None,
        responses=_ERRORS,
    )
    _install_error_handlers(app)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    Limit = Annotated[int, Query(ge=1, le=max_page, description="rows per page")]  # noqa: N806

    def region_access(region: RegionPath, key: Annotated[str | None, Depends(key_header)]) -> str:
        _authorise(keys, key, region)
        return region

    Region = Annotated[str, Depends(region_access)]  # noqa: N806

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness of the API; needs no key."""
        return Health(status="ok", live_clients=hub.client_count)

    @app.get("/api/v1/regions", response_model=Regions)
    def regions(key: Annotated[str | None, Depends(key_header)]) -> Regions:
        """The regions the key may read."""
        return Regions(regions=sorted(_key_regions(keys, key)))

    @app.get("/api/v1/regions/{region}/devices", response_model=DevicePage)
    def devices(region: Region, limit: Limit = 100, cursor: CursorParam = None) -> DevicePage:
        """Devices of the region: status, last seen, latest health; by device id."""
        after = None if cursor is None else _device_cursor(cursor)
        rows = _read(lambda: read_model.devices(region, after, limit))
        next_cursor = _encode_device(rows[-1].device_id) if len(rows) == limit else None
        return DevicePage(items=[_device(row) for row in rows], next_cursor=next_cursor)

    @app.get("/api/v1/regions/{region}/devices/{device_id}/loss", response_model=DeviceLoss)
    def loss(region: Region, device_id: DevicePath) -> DeviceLoss:
        """Messages delivered, duplicated and missing per boot of one device."""
        records = _read(lambda: read_model.loss(region, device_id))
        boots = [
            Loss(
                boot_id=r.boot_id,
                first_sequence=r.first_sequence,
                last_sequence=r.last_sequence,
                delivered=r.delivered,
                duplicates=r.duplicates,
                missing=r.missing,
                missing_before=r.missing_before,
            )
            for r in records
        ]
        return DeviceLoss(
            device_id=device_id,
            delivered=sum(b.delivered for b in boots),
            duplicates=sum(b.duplicates for b in boots),
            missing=sum(b.missing + b.missing_before for b in boots),
            boots=boots,
        )

    @app.get("/api/v1/regions/{region}/tracks", response_model=LatestMessages)
    def tracks(region: Region, kind: ObjectKind = ObjectKind.FUSED) -> LatestMessages:
        """The newest object list of each roadside unit (fused tracks by default)."""
        rows = _read(lambda: read_model.latest(region, Stream.OBJECTS, kind=_KIND_NAMES[kind]))
        return LatestMessages(items=[_message(r) for r in rows])

    @app.get("/api/v1/regions/{region}/devices/{device_id}/objects", response_model=LatestMessages)
    def objects(
        region: Region, device_id: DevicePath, kind: ObjectKind = ObjectKind.FUSED
    ) -> LatestMessages:
        """The newest object list of one roadside unit."""
        rows = _read(
            lambda: read_model.latest(region, Stream.OBJECTS, device_id, _KIND_NAMES[kind])
        )
        return LatestMessages(items=[_message(r) for r in rows])

    @app.get("/api/v1/regions/{region}/spat", response_model=LatestMessages)
    def spat(region: Region) -> LatestMessages:
        """The newest SPaT of each device of the region."""
        rows = _read(lambda: read_model.latest(region, Stream.SPAT))
        return LatestMessages(items=[_message(r) for r in rows])

    @app.get("/api/v1/regions/{region}/intersections", response_model=LatestMessages)
    def intersections(region: Region) -> LatestMessages:
        """The newest intersection description (lanes, signal groups) of each roadside unit."""
        rows = _read(lambda: read_model.latest(region, Stream.INTERSECTION))
        return LatestMessages(items=[_message(r) for r in rows])

    @app.get("/api/v1/regions/{region}/devices/{device_id}/states", response_model=MessagePage)
    def states(
        region: Region,
        device_id: DevicePath,
        from_ns: FromNs = INT64_MIN,
        to_ns: ToNs = INT64_MAX,
        limit: Limit = 100,
        cursor: CursorParam = None,
    ) -> MessagePage:
        """A vehicle's state history by capture time."""
        query = HistoryQuery(
            region, Stream.STATE, from_ns, to_ns, limit, device_id, None, _cursor(cursor)
        )
        return _page(_read(lambda: read_model.history(query)), limit)

    @app.get("/api/v1/regions/{region}/events", response_model=MessagePage)
    def events(
        region: Region,
        from_ns: FromNs = INT64_MIN,
        to_ns: ToNs = INT64_MAX,
        type: Annotated[  # the API's parameter name
            str | None,
            Query(max_length=64, description="an EventType name, e.g. SPEEDING"),
        ] = None,
        limit: Limit = 100,
        cursor: CursorParam = None,
    ) -> MessagePage:
        """Events of the region by capture time, optionally of one type."""
        query = HistoryQuery(
            region, Stream.EVENTS, from_ns, to_ns, limit, None, _event_type(type), _cursor(cursor)
        )
        return _page(_read(lambda: read_model.history(query)), limit)

    @app.websocket("/api/v1/regions/{region}/live")
    async def live(websocket: WebSocket, region: str) -> None:
        await _serve_live(websocket, region, hub, keys)

    static = static_dir or Path(str(resources.files("cloud_bridge.web") / "static"))

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(static / "index.html")

    app.mount("/static", StaticFiles(directory=static), name="static")
    return app


def _key_regions(keys: KeyRing, key: str | None) -> frozenset[str]:
    if not key:
        raise ApiError(401, "missing_api_key", "send an API key in the X-API-Key header")
    regions = keys.regions_of(key)
    if regions is None:
        raise ApiError(401, "unknown_api_key", "the API key is not configured")
    return regions


def _authorise(keys: KeyRing, key: str | None, region: str) -> None:
    if region not in _key_regions(keys, key):
        raise ApiError(403, "region_not_allowed", f"the API key may not read region {region}")


def _read(query: Callable[[], T]) -> T:
    try:
        result = query()
    except StoreError as err:
        raise ApiError(503, "store_unavailable", str(err)) from err
    return result


def _cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        return Cursor.decode(text)
    except ValueError as err:
        raise ApiError(400, "bad_cursor", str(err)) from err


def _encode_device(device_id: str) -> str:
    return Cursor(0, device_id, "", 0).encode()


def _device_cursor(text: str) -> str:
    cursor = _cursor(text)
    assert cursor is not None
    return cursor.device_id


def _event_type(name: str | None) -> str | None:
    if name is None:
        return None
    full = name if name.startswith("EVENT_TYPE_") else f"EVENT_TYPE_{name}"
    names = pb.EventType.keys()
    if full not in names:
        known = ", ".join(k.removeprefix("EVENT_TYPE_") for k in names)
        raise ApiError(400, "unknown_event_type", f"type {name[:64]!r} is not one of {known}")
    return full


def _message(row: MessageRow) -> Message:
    return Message(
        device_id=row.device_id,
        boot_id=row.boot_id,
        sequence=row.sequence,
        stream=row.stream,
        region=row.region,
        capture_time_ns=row.capture_time_ns,
        received_time_ns=row.received_time_ns,
        historical=row.historical,
        clock_suspect=row.clock_suspect,
        body=row.body,
    )


def _page(rows: list[MessageRow], limit: int) -> MessagePage:
    next_cursor = cursor_of(rows[-1]).encode() if len(rows) == limit else None
    return MessagePage(items=[_message(r) for r in rows], next_cursor=next_cursor)


def _device(row: DeviceRow) -> Device:
    return Device(
        device_id=row.device_id,
        region=row.region,
        role=row.role,
        liveness=row.liveness,
        software_version=row.software_version,
        status_time_ns=row.status_time_ns,
        last_seen_ns=row.last_seen_ns,
        health=row.health,
    )


def _problem(status: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse({"reason": reason, "detail": detail}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _problem(exc.status, exc.reason, exc.detail)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
        return _problem(400, "invalid_parameter", "; ".join(parts)[:2000])

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        reasons = {404: "not_found", 405: "method_not_allowed"}
        reason = reasons.get(exc.status_code, "bad_request")
        return _problem(exc.status_code, reason, str(exc.detail))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


async def _serve_live(websocket: WebSocket, region: str, hub: LiveHub, keys: KeyRing) -> None:
    """Authenticate by the first message, then send the region's messages until either side
    ends; a client that falls behind is closed with ``DROPPED_CODE``."""
    await websocket.accept()
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            first = await websocket.receive_text()
        key = json.loads(first).get("key")
        _authorise(keys, key if isinstance(key, str) else None, region)
    except (TimeoutError, ValueError, AttributeError, KeyError) as err:
        await websocket.close(POLICY_CODE, f'send {{"key": ...}} first ({type(err).__name__})')
        return
    except ApiError as err:
        await websocket.close(POLICY_CODE, err.reason)
        return
    except WebSocketDisconnect:
        return
    try:
        with hub.connect(region) as client:
            await websocket.send_text(json.dumps({"stream": "hello", "region": region}))
            sender = asyncio.create_task(_send_queued(websocket, client), name="live-ws-sender")
            client.sender = sender
            reader = asyncio.create_task(_discard_incoming(websocket), name="live-ws-reader")
            try:
                await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sender, reader):
                    task.cancel()
                await asyncio.gather(sender, reader, return_exceptions=True)
            if client.dropped:
                # The close frame waits behind what the client has not read: bounded.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CLOSE_TIMEOUT_S):
                        await websocket.close(DROPPED_CODE, "too slow: fell behind the stream")
    except TooManyClientsError as err:
        await websocket.close(DROPPED_CODE, str(err))
    except (WebSocketDisconnect, RuntimeError):
        # RuntimeError: starlette's "send after close" when the client left mid-send.
        pass


async def _send_queued(websocket: WebSocket, client: LiveClient) -> None:
    """Send the client's queue until it is dropped (the hub may also cancel this)."""
    while (text := await client.queue.get()) != DROPPED:
        await websocket.send_text(text)


async def _discard_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so that its leaving is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive()
            if websocket.client_state is not WebSocketState.CONNECTED:
                return
