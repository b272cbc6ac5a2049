"""``roadgate replay LOG...``: plays a flight log back onto the interfaces a box reads, so the
daemon under test sees what the field box saw.

CAN frames go out on the project's CAN ports (``hal``: SocketCAN/vcan, python-can's virtual
bus, any python-can interface), serial lines on pseudo-terminals (a symlink at the path asked
for points at the terminal, as the daemon's ``gnss.port``), what the radio heard to the box's
radio UDP port and the signal controller's datagrams to its SPaT port, in the original order
and with the original spacing divided by ``--speed`` (``max``: as fast as the consumers take
them). What the box itself sent (V2X out, envelopes) is not played: the box under test makes
it again.

Time: the replay plays every item a fixed shift (a whole number of 1/100 s) after its recorded
time (at ``--speed 1``), and moves the UTC time in NMEA lines by that shift (``retime_nmea``),
so the box's CAN (stamped by its kernel when received) and its GNSS epochs agree as they did in
the field. What the radio heard is moved likewise (``protocols.v2x.retime.retime_v2x``: every
absolute time in the ``MessageFrame``), so the box's reception filter takes it as fresh, as the
field box did; a datagram that is not a frame we re-encode exactly goes as recorded (counted).

MQTT messages the box received (``mqtt/in/...``: the roadside unit's state feed) are published
to a broker (``--mqtt``) on their recorded topics, each Envelope's capture and publish times
moved by the same shift (``retime_envelope``), so the state feed's age check takes them as
fresh; a payload that is not an Envelope goes as recorded (counted).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import math
import os
import select
import sys
import threading
import time
import tty
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from firmware_py.cli.arguments import host_port
from firmware_py.cli.record import (
    CanSource,
    SerialSource,
    _stop_on_signals,
    can_source,
    log_files,
    serial_source,
)
from firmware_py.errors import FirmwareError

if TYPE_CHECKING:
    from paho.mqtt.client import Client as PahoClient

    from edge.recording.log_format import ChannelSpec
    from edge.recording.reader import LogItem, ReadReport
    from hal.can.port import CanPort
    from hal.net.port import DatagramLink

MAX_SPEED = math.inf
TIME_STEP_S = 0.01
"""The replay's shift from recorded to played time is a whole number of these: NMEA's
resolution, so that moved NMEA times stay exact."""
START_DELAY_S = 0.05
"""The first item goes out this much after the replay starts, at most (time to set up)."""
SLEEP_GRANULARITY_S = 0.0005
"""Items due sooner than this are sent at once: a sleep that short costs more than it keeps."""
WRITE_TIMEOUT_S = 1.0
"""How long a full pseudo-terminal or socket buffer may hold up the replay before the item is
dropped (and counted): a consumer that stopped reading must not hang it forever."""
MQTT_CONNECT_TIMEOUT_S = 5.0
MQTT_KEEPALIVE_S = 30


def speed(text: str) -> float:
    """``--speed``: ``max`` or a factor > 0 (2: twice as fast as recorded)."""
    if text.strip().lower() == "max":
        return MAX_SPEED
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a speed: {text!r} (a factor, or max)") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"speed must be a finite factor > 0 or max, got {text!r}")
    return value


@dataclass(frozen=True)
class UdpTarget:
    host: str
    port: int


def udp_target(text: str) -> UdpTarget:
    """``[HOST:]PORT`` a box listens on (host 127.0.0.1 by default)."""
    return UdpTarget(*host_port(text, "127.0.0.1"))


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int


def broker_address(text: str) -> BrokerAddress:
    """``--mqtt [HOST:]PORT``: the broker the box under test subscribes to (127.0.0.1 by
    default)."""
    return BrokerAddress(*host_port(text, "127.0.0.1"))


def register(commands: Any) -> None:
    """Add ``replay`` to the top-level subparsers ``commands``."""
    replay = commands.add_parser(
        "replay",
        help="play a flight log back onto CAN, pseudo-terminals, UDP and MQTT",
        description="Play flight logs (files or directories of *.mcap) back onto the "
        "interfaces a box reads, with the original timing or --speed. Channels without a "
        "target given here are skipped (and counted).",
    )
    replay.add_argument("logs", type=Path, nargs="+", metavar="LOG", help="files or directories")
    replay.add_argument(
        "--speed",
        type=speed,
        default=1.0,
        metavar="N|max",
        help="a factor of the recorded pace (default 1), or max: as fast as possible",
    )
    replay.add_argument(
        "--can",
        type=can_source,
        action="append",
        default=[],
        metavar="BUS=[IFACE:]CHANNEL",
        help="send the recorded bus BUS on this CAN interface (socketcan by default, or any "
        "python-can interface, e.g. virtual:test)",
    )
    replay.add_argument(
        "--serial",
        type=serial_source,
        action="append",
        default=[],
        metavar="PORT=PATH",
        help="write the recorded serial port PORT's lines to a pseudo-terminal linked at PATH",
    )
    replay.add_argument(
        "--v2x",
        type=udp_target,
        metavar="[HOST:]PORT",
        help="send what the radio heard to this UDP port (the box's v2x listen port)",
    )
    replay.add_argument(
        "--spat",
        type=udp_target,
        metavar="[HOST:]PORT",
        help="send the signal controller's datagrams to this UDP port",
    )
    replay.add_argument(
        "--mqtt",
        type=broker_address,
        metavar="[HOST:]PORT",
        help="publish the MQTT messages the box received (the state feed's) to this broker, "
        "on their recorded topics (plain MQTT, no login)",
    )
    replay.add_argument(
        "--keep-nmea-time",
        action="store_true",
        help="write NMEA lines as recorded (default: their UTC times and dates are moved to "
        "when they are played, as the box's clock expects)",
    )
    replay.add_argument(
        "--keep-v2x-time",
        action="store_true",
        help="send what the radio heard as recorded (default: the times in its messages are "
        "moved to when they are played, or the box's reception filter drops them as stale)",
    )
    replay.add_argument(
        "--keep-mqtt-time",
        action="store_true",
        help="publish the MQTT messages as recorded (default: their Envelopes' capture and "
        "publish times are moved to when they are played, or the box drops them as stale)",
    )
    replay.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long after opening the targets before playing (time to start a box)",
    )
    replay.set_defaults(handler=_replay)


class Target(Protocol):
    """Where one kind of recorded item goes."""

    def play(self, item: LogItem, shift_s: float) -> bool:
        """Send ``item``, which goes out ``shift_s`` seconds after its recorded time; False
        when it could not be sent (counted by the caller)."""
        ...


@dataclass
class ReplayReport:
    """What a replay did: items sent and not, per channel topic, and how long it took."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    own_output: Counter[str] = field(default_factory=Counter)
    kept_times: Counter[str] = field(default_factory=Counter)
    """V2X datagrams sent with their recorded times: not a frame ``retime_v2x`` can move."""
    not_envelopes: Counter[str] = field(default_factory=Counter)
    """MQTT messages published as recorded: not an Envelope ``retime_envelope`` can move."""
    log_span_s: float = 0.0
    wall_s: float = 0.0
    shift_s: float = 0.0
    """Played time minus recorded time of the first item (at speed 1, of every item)."""
    stopped: bool = False
    reads: list[ReadReport] = field(default_factory=list)

    def lines(self) -> list[str]:
        sent = sum(self.sent.values())
        pace = f"{self.log_span_s / self.wall_s:.1f}x" if self.wall_s > 0 else "-"
        out = [
            f"replayed {sent} items, {self.log_span_s:.3f} s of log in {self.wall_s:.3f} s "
            f"({pace} real time), {self.shift_s:.2f} s after it was recorded"
        ]
        out += [f"  {topic}: {n} sent" for topic, n in sorted(self.sent.items())]
        out += [f"  {topic}: {n} NOT sent" for topic, n in sorted(self.failed.items())]
        out += [f"  {topic}: {n} skipped (no target)" for topic, n in sorted(self.skipped.items())]
        out += [
            f"  {topic}: {n} not played (the box's own output)"
            for topic, n in sorted(self.own_output.items())
        ]
        out += [
            f"  {topic}: {n} sent with their recorded times (not a frame to retime)"
            for topic, n in sorted(self.kept_times.items())
        ]
        out += [
            f"  {topic}: {n} sent as recorded (not an Envelope to retime)"
            for topic, n in sorted(self.not_envelopes.items())
        ]
        out += [f"  {r.path}: {r.summary()}" for r in self.reads if r.damaged]
        return out


class CanTarget:
    """Sends recorded frames on an open CAN port; error frames cannot be sent and fail."""

    def __init__(self, port: CanPort) -> None:
        self._port = port

    def play(self, item: LogItem, shift_s: float) -> bool:
        del shift_s  # the receiving port stamps frames itself
        from edge.recording.reader import CanItem
        from hal.can.frames import FLAG_BRS, FLAG_ERROR, FLAG_EXTENDED, FLAG_FD, FLAG_REMOTE
        from hal.errors import HalError

        assert isinstance(item, CanItem), "routed by its channel's kind"
        frames = item.frames
        ok = True
        for arbitration_id, flags, length, data in zip(
            frames["arbitration_id"].tolist(),
            frames["flags"].tolist(),
            frames["dlc"].tolist(),
            frames["data"],
            strict=True,
        ):
            extended = bool(flags & FLAG_EXTENDED)
            if flags & FLAG_ERROR:
                ok = False
                continue
            try:
                if flags & FLAG_REMOTE:
                    self._port.send_remote(arbitration_id, length, extended=extended)
                else:
                    self._port.send(
                        arbitration_id,
                        data[:length].tobytes(),
                        extended=extended,
                        fd=bool(flags & FLAG_FD),
                        bitrate_switch=bool(flags & FLAG_BRS),
                    )
            except (HalError, ValueError):
                ok = False
        return ok


class PtyTarget:
    """A pseudo-terminal whose other end is linked at ``path``: each line is written with
    CR LF, as a receiver's UART sends it, its NMEA times moved to when it is played unless
    ``retime`` is false (``retime_nmea``). The terminal stays open until ``close``, so what is
    written before a reader opens it waits in its buffer."""

    def __init__(self, path: Path, *, retime: bool = True) -> None:
        self._retime = retime
        if path.is_symlink():
            path.unlink()  # a link left by an earlier replay
        elif path.exists():
            raise FirmwareError(f"--serial: {path} exists; give a path for a new link")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # as a UART: no echo, no CR/LF translation
            flags = fcntl.fcntl(master, fcntl.F_GETFL)
            fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
            path.symlink_to(os.ttyname(slave))
        except OSError as err:
            os.close(master)
            os.close(slave)
            raise FirmwareError(
                f"--serial: cannot link {path} to a pseudo-terminal: {err}"
            ) from err
        self.path = path
        self._master, self._slave = master, slave

    def play(self, item: LogItem, shift_s: float) -> bool:
        from edge.recording.reader import LineItem

        assert isinstance(item, LineItem), "routed by its channel's kind"
        line = retime_nmea(item.line, shift_s) if self._retime else item.line
        data = line + b"\r\n"
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        while data:
            try:
                data = data[os.write(self._master, data) :]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                select.select([], [self._master], [], left)
            except OSError as err:
                if err.errno == errno.EIO:  # no reader now: the line is lost, as on a UART
                    return False
                raise
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class UdpTargetLink:
    """Sends datagrams to a box's UDP port through a ``hal`` link; with ``retime_v2x``, each
    one a ``MessageFrame`` whose times are moved to when it is played (``retime_v2x``), those
    that cannot be moved sent as recorded and counted in ``kept_times`` (per topic)."""

    def __init__(self, link: DatagramLink, *, retime_v2x: bool = False) -> None:
        self._link = link
        self._retime = retime_v2x
        self.kept_times: Counter[str] = Counter()
        if retime_v2x:
            # Imported and compiled (~0.5 s) now, not on the first datagram, which it would
            # make late; asn1tools only for a replay of what a radio heard.
            from protocols.v2x import specification

            specification()

    def play(self, item: LogItem, shift_s: float) -> bool:
        from edge.recording.reader import DatagramItem
        from hal.errors import TransmitError

        assert isinstance(item, DatagramItem), "routed by its channel's kind"
        payload = item.payload
        if self._retime:
            from protocols.errors import ProtocolError
            from protocols.v2x.retime import retime_v2x

            try:
                payload = retime_v2x(payload, shift_s, item.timestamp)
            except ProtocolError:
                self.kept_times[item.channel.topic] += 1
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        while True:
            try:
                self._link.send(payload)
                return True
            except TransmitError:  # the send buffer is full at --speed max: wait for room
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.001)


class MqttTarget:
    """Publishes the MQTT messages a box received to a broker on their recorded topics, at
    QoS 0 (as the state feed subscribes; a late state is worthless), without retain; with
    ``retime``, each Envelope's times moved to when it is played (``retime_envelope``), a
    payload that is not one sent as recorded and counted in ``not_envelopes`` (per topic).
    ``play`` returns once paho has written the message to the socket."""

    def __init__(self, client: PahoClient, *, retime: bool = True) -> None:
        self._client = client
        self._retime = retime
        self.not_envelopes: Counter[str] = Counter()

    def play(self, item: LogItem, shift_s: float) -> bool:
        from paho.mqtt.client import MQTT_ERR_SUCCESS

        from edge.recording.reader import MqttItem
        from protocols.errors import ProtocolError

        assert isinstance(item, MqttItem), "routed by its channel's kind"
        payload = item.message
        if self._retime:
            try:
                payload = retime_envelope(payload, shift_s)
            except ProtocolError:
                self.not_envelopes[item.channel.topic] += 1
        try:
            info = self._client.publish(item.topic, payload, qos=0)
            if info.rc != MQTT_ERR_SUCCESS:
                return False
            info.wait_for_publish(WRITE_TIMEOUT_S)
        except (ValueError, RuntimeError):  # a topic paho refuses; the connection lost
            return False
        return info.is_published()


def open_mqtt_client(stack: ExitStack, broker: BrokerAddress) -> PahoClient:
    """A paho client connected to ``broker`` with its network thread running (stopped and
    disconnected by ``stack``). Raises ``FirmwareError`` when the broker cannot be reached or
    refuses the connection within ``MQTT_CONNECT_TIMEOUT_S``."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    where = f"--mqtt: broker {broker.host}:{broker.port}"
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"roadgate-replay-{uuid.uuid4().hex[:12]}"
    )
    answered = threading.Event()
    refused: list[str] = []

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=MQTT_KEEPALIVE_S)
    except (OSError, ValueError) as err:
        raise FirmwareError(f"{where}: cannot connect: {err}") from err
    client.loop_start()

    def close() -> None:
        client.disconnect()
        client.loop_stop()

    stack.callback(close)
    if not answered.wait(MQTT_CONNECT_TIMEOUT_S):
        raise FirmwareError(f"{where}: no CONNACK within {MQTT_CONNECT_TIMEOUT_S:g} s")
    if refused:
        raise FirmwareError(f"{where}: connection refused: {refused[0]}")
    return client


def retime_envelope(payload: bytes, shift_s: float) -> bytes:
    """``payload``, a v1 Envelope, with its capture and publish times (those set) moved
    ``shift_s`` later. The state feed checks a state's capture time against its own clock,
    which on replay is later than the recording's by the shift.

    Raises ``ProtocolError`` when ``payload`` is not an Envelope ``protocols.envelope.decode``
    accepts, or a moved time does not fit its field.
    """
    from protocols.envelope import decode
    from protocols.errors import DecodeError

    envelope = decode(payload)
    shift_ns = round(shift_s * 1e9)
    try:
        if envelope.capture_time_ns > 0:
            envelope.capture_time_ns += shift_ns
        if envelope.publish_time_ns > 0:
            envelope.publish_time_ns += shift_ns
    except ValueError as err:  # past int64
        raise DecodeError(f"a time moved {shift_s} s is out of range: {err}") from err
    return envelope.SerializeToString()


def _replay(args: argparse.Namespace) -> int:
    files = log_files(args.logs)
    with ExitStack() as stack:
        targets = open_targets(
            stack,
            args.can,
            args.serial,
            args.v2x,
            args.spat,
            retime_nmea=not args.keep_nmea_time,
            retime_v2x=not args.keep_v2x_time,
            mqtt=args.mqtt,
            retime_mqtt=not args.keep_mqtt_time,
        )
        if not targets:
            raise FirmwareError(
                "nothing to replay onto: give --can, --serial, --v2x, --spat or --mqtt"
            )
        for target in targets.values():
            if isinstance(target, PtyTarget):
                print(f"roadgate replay: serial on {target.path}", file=sys.stderr)
        stop = threading.Event()
        with _stop_on_signals(stop):  # Ctrl-C or SIGTERM: stop, close, report what was sent
            if stop.wait(max(0.0, args.wait)):
                return 130
            report = replay(files, targets, speed=args.speed, stop=stop)
    for line in report.lines():
        print(line)
    if report.stopped:
        print("stopped before the end of the log")
        return 130
    return 1 if report.failed else 0


def target_key(kind: str, source: str) -> str:
    """The key of ``targets`` for a recorded channel: ``can/{bus}``, ``serial/{port}``, or
    ``v2x-rx``, ``spat`` and ``mqtt-in`` for every port or client of that kind."""
    return f"{kind}/{source}" if kind in ("can", "serial") else kind


def open_targets(
    stack: ExitStack,
    can: Iterable[CanSource],
    serial: Iterable[SerialSource],
    v2x: UdpTarget | None,
    spat: UdpTarget | None,
    *,
    retime_nmea: bool = True,
    retime_v2x: bool = True,
    mqtt: BrokerAddress | None = None,
    retime_mqtt: bool = True,
) -> dict[str, Target]:
    """Open every target (closed by ``stack``), keyed as ``target_key`` says; serial lines'
    NMEA times, the times in what the radio heard and in the Envelopes received over MQTT are
    moved to when they are played unless ``retime_nmea``, ``retime_v2x``, ``retime_mqtt`` are
    false. Raises ``PortOpenError`` for a port that cannot open, ``FirmwareError`` for a path
    in the way or a broker that cannot be reached."""
    from hal.can.registry import create_can_port

    targets: dict[str, Target] = {}
    for bus in can:
        port = stack.enter_context(
            create_can_port(f"replay-{bus.name}", bus.interface, bus.channel)
        )
        targets[target_key("can", bus.name)] = CanTarget(port)
    for line in serial:
        pty = PtyTarget(Path(line.url), retime=retime_nmea)
        stack.callback(pty.close)
        targets[target_key("serial", line.name)] = pty
    for kind, target in (("v2x-rx", v2x), ("spat", spat)):
        if target is not None:
            link = _udp_link(stack, kind, target)
            targets[kind] = UdpTargetLink(link, retime_v2x=retime_v2x and kind == "v2x-rx")
    if mqtt is not None:
        targets["mqtt-in"] = MqttTarget(open_mqtt_client(stack, mqtt), retime=retime_mqtt)
    return targets


def _udp_link(stack: ExitStack, kind: str, target: UdpTarget) -> DatagramLink:
    from hal.net.udp_link import UdpLink

    local = "::" if ":" in target.host else "0.0.0.0"
    link = UdpLink(f"replay-{kind}", local, 0, peer_host=target.host, peer_port=target.port)
    stack.enter_context(link)
    return link


def replay(
    files: Iterable[Path],
    targets: Mapping[str, Target],
    *,
    speed: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    stop: threading.Event | None = None,
) -> ReplayReport:
    """Play the logs' items onto ``targets`` in their original order, each at its original
    offset from the first divided by ``speed`` (``math.inf``: no waiting), until the end of
    the logs or until ``stop`` is set.

    The first item goes out at a wall time a whole number of ``TIME_STEP_S`` after its recorded
    one, so that at ``speed`` 1 every item is played exactly that shift after its recorded
    time, which is what NMEA times (1/100 s) are moved by: the box under test then sees one
    consistent time line, its CAN stamped by its kernel and its GNSS epochs, as the field box
    did.
    """
    from edge.recording.reader import in_time_order, read_logs

    report = ReplayReport()
    items = in_time_order(read_logs(files, report.reads))
    first: float | None = None
    last = shift_s = 0.0
    started = monotonic()
    routes: dict[ChannelSpec, tuple[Target | None, str]] = {}
    # A target's count runs over its life (it may serve several replays): report this one's.
    unique = {id(t): t for t in targets.values()}.values()
    udp = [t for t in unique if isinstance(t, UdpTargetLink)]
    kept_before = [Counter(t.kept_times) for t in udp]
    brokers = [t for t in unique if isinstance(t, MqttTarget)]
    not_envelopes_before = [Counter(t.not_envelopes) for t in brokers]
    for item in _playable(items, report):
        route = routes.get(item.channel)
        if route is None:
            channel = item.channel
            key = target_key(channel.kind, channel.source)
            route = routes[channel] = (targets.get(key), channel.topic)
        target, topic = route
        if target is None:
            report.skipped[topic] += 1
            continue
        if first is None:
            first = item.timestamp
            steps = math.ceil((wall_clock() + START_DELAY_S - first) / TIME_STEP_S)
            shift_s = steps * TIME_STEP_S
            started = monotonic() + (first + shift_s - wall_clock())
            report.shift_s = shift_s
        last = item.timestamp
        if speed == MAX_SPEED:
            at_shift = shift_s
        else:
            offset = (item.timestamp - first) / speed
            delay = started + offset - monotonic()
            if delay > SLEEP_GRANULARITY_S:
                if stop is None:
                    sleep(delay)
                elif stop.wait(delay):
                    break
            at_shift = first + shift_s + offset - item.timestamp
        if stop is not None and stop.is_set():
            break
        (report.sent if target.play(item, at_shift) else report.failed)[topic] += 1
    for target, before in zip(udp, kept_before, strict=True):
        report.kept_times.update(target.kept_times - before)
    for broker, counted in zip(brokers, not_envelopes_before, strict=True):
        report.not_envelopes.update(broker.not_envelopes - counted)
    report.stopped = stop is not None and stop.is_set()
    report.wall_s = monotonic() - started if first is not None else 0.0
    report.log_span_s = last - first if first is not None else 0.0
    return report


def _playable(items: Iterator[LogItem], report: ReplayReport) -> Iterator[LogItem]:
    """The items a box reads (not what it sent: V2X out, envelopes; those are counted)."""
    from edge.recording.log_format import Kind

    for item in items:
        if item.channel.kind in (Kind.V2X_TX, Kind.ENVELOPE):
            report.own_output[item.channel.topic] += 1
        else:
            yield item


_TIME_FIELD = {"GGA": 0, "GNS": 0, "GST": 0, "GBS": 0, "GRS": 0, "GLL": 4, "RMC": 0, "ZDA": 0}
"""Sentences with a UTC time of day, and its field's index (after the address)."""
_SECONDS_PER_DAY = 86_400


def retime_nmea(line: bytes, shift_s: float) -> bytes:
    """``line`` with its UTC time (and RMC's or ZDA's date) moved ``shift_s`` later, to the
    resolution its time field has, and its checksum redone; any other line (another sentence,
    a broken one) unchanged. A box checks a fix's time against its own clock, which on replay
    is later than the recording's by the shift: the line says what the receiver would have."""
    from protocols.nmea.fields import checksum

    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return line
    body, star, given = text.removeprefix("$").partition("*")
    if not text.startswith("$") or not star or given.upper() != f"{checksum(body):02X}":
        return line
    fields = body.split(",")
    index = _TIME_FIELD.get(fields[0][-3:])
    if index is None or len(fields) <= index + 1:
        return line
    moved = _moved(fields[1:], fields[0][-3:], index, shift_s)
    if moved is None:
        return line
    body = ",".join([fields[0], *moved])
    return f"${body}*{checksum(body):02X}".encode("ascii")


def _moved(fields: list[str], kind: str, index: int, shift_s: float) -> list[str] | None:
    """The fields with the time at ``index`` (and the date, for RMC and ZDA) moved."""
    from datetime import UTC, datetime, timedelta

    clock = fields[index]
    whole, _, fraction = clock.partition(".")
    if len(whole) != 6 or not whole.isdigit() or (fraction and not fraction.isdigit()):
        return None
    unit = 10 ** len(fraction)
    ticks = (
        (int(whole[:2]) * 3600 + int(whole[2:4]) * 60 + int(whole[4:])) * unit
        + (int(fraction) if fraction else 0)
        + round(shift_s * unit)
    )
    days, ticks = divmod(ticks, _SECONDS_PER_DAY * unit)
    seconds, part = divmod(ticks, unit)
    hours, rest = divmod(seconds, 3600)
    clock = f"{hours:02d}{rest // 60:02d}{rest % 60:02d}" + (
        f".{part:0{len(fraction)}d}" if fraction else ""
    )
    out = list(fields)
    out[index] = clock
    if not days:
        return out
    try:
        if kind == "RMC" and len(out) > 8 and len(out[8]) == 6 and out[8].isdigit():
            date = datetime.strptime(out[8], "%d%m%y").replace(tzinfo=UTC) + timedelta(days)
            out[8] = date.strftime("%d%m%y")
        elif kind == "ZDA" and len(out) > 3 and all(f.isdigit() for f in out[1:4]):
            date = datetime(int(out[3]), int(out[2]), int(out[1]), tzinfo=UTC) + timedelta(days)
            out[1:4] = [f"{date.day:02d}", f"{date.month:02d}", f"{date.year:04d}"]
    except (ValueError, OverflowError):
        return None
    return out
