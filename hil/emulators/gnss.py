"""A GNSS receiver on a serial port: NMEA GGA + RMC from the ground truth on a pseudo-terminal.

The port appears as a symlink to the pty's slave, as udev makes ``/dev/gnss0``, so the daemon
opens it by a stable path and its reopen logic sees a real unplug and replug.

Whether a reader has the port open comes from the master: Linux reports ``POLLHUP`` on it
while no process holds the slave open. A pty whose slave was never opened does not report it,
so the slave is opened once (to set raw mode) and closed before anything is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import random
import select
import threading
import tty
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.geo import GeoPoint
from firmware_py.simulation.gnss import epoch_sentences
from hil.clock import ScenarioClock
from hil.emulators.base import HilEmulatorError, ThreadedEmulator
from hil.world import GroundTruth
from protocols.nmea import FixQuality, format_gga
from protocols.nmea.fields import checksum

QUALITIES = {
    "gnss": FixQuality.GNSS,
    "dgnss": FixQuality.DGNSS,
    "rtk_float": FixQuality.RTK_FLOAT,
    "rtk_fixed": FixQuality.RTK_FIXED,
}
_HDOP = {
    FixQuality.GNSS: 0.9,
    FixQuality.DGNSS: 0.8,
    FixQuality.RTK_FLOAT: 0.7,
    FixQuality.RTK_FIXED: 0.6,
}
SATELLITES = 18


class GnssEmulator(ThreadedEmulator):
    """Writes one GGA + RMC epoch every ``1 / rate_hz`` s to a pty reached through ``link``.

    Epochs sit on the UTC grid of the rate (…00, …20, …40 at 5 Hz) and describe ``actor``
    (or the fixed ``position``) at the epoch's scenario time. Stats: ``epochs``,
    ``epochs_delivered`` (written while a reader had the port open), ``epochs_unread`` (no
    reader: not written, as a UART's bytes are lost), ``epochs_unplugged``,
    ``epochs_no_fix`` (epochs during an outage), ``epochs_overrun`` (the reader fell behind
    and the pty buffer was full), ``garbage_bytes``, ``unplugs``, ``replugs``.
    ``open()`` makes the port appear before ``start`` (a device exists before the daemon
    starts). Fault controls may be called from any thread while the port is open.
    """

    def __init__(
        self,
        name: str,
        truth: GroundTruth,
        *,
        link: Path,
        actor: str | None = None,
        position: GeoPoint | None = None,
        rate_hz: float = 5.0,
        quality: str = "rtk_fixed",
    ) -> None:
        """Raises ``ValueError`` unless exactly one of ``actor`` and ``position`` is given,
        for an actor not in ``truth``, a rate <= 0 or a quality not in ``QUALITIES``."""
        super().__init__(name)
        if (actor is None) == (position is None):
            raise ValueError(f"emulator {name!r}: give exactly one of actor and position")
        if actor is not None and actor not in truth.actors:
            raise ValueError(f"emulator {name!r}: no actor {actor!r} in the ground truth")
        if not rate_hz > 0:
            raise ValueError(f"emulator {name!r}: rate_hz must be positive, got {rate_hz}")
        if quality not in QUALITIES:
            raise ValueError(
                f"emulator {name!r}: quality {quality!r} not one of {sorted(QUALITIES)}"
            )
        self.link = link
        self._truth = truth
        self._actor = actor
        self._position = position
        self._period_s = 1.0 / rate_hz
        self._quality = QUALITIES[quality]
        self._random = random.Random(name)  # reproducible garbage
        self._lock = threading.Lock()  # the pty and the fault flags, shared with fault calls
        self._master = -1
        self._plugged = False
        self._no_fix = False
        self._garbage = b""
        for key in (
            "epochs",
            "epochs_delivered",
            "epochs_unread",
            "epochs_unplugged",
            "epochs_no_fix",
            "epochs_overrun",
            "garbage_bytes",
            "unplugs",
            "replugs",
        ):
            self._counts[key] = 0

    @property
    def delivered(self) -> int:
        """Epochs written while a reader had the port open."""
        return self._counts["epochs_delivered"]

    @property
    def device_path(self) -> str:
        """The current pty slave (what ``link`` points to), or "" while unplugged."""
        with contextlib.suppress(OSError):
            return os.readlink(self.link)
        return ""

    def unplug(self) -> None:
        """Pull the receiver out: remove the link and close the pty; a reader gets an error."""
        with self._lock:
            self._check_open()
            if not self._plugged:
                return
            self._unlink()
            self._close_master()
            self._plugged = False
            self._counts["unplugs"] += 1

    def replug(self) -> None:
        """Plug it back in: a new pty behind the same link."""
        with self._lock:
            self._check_open()
            if self._plugged:
                return
            self._plug()
            self._counts["replugs"] += 1

    def set_no_fix(self, on: bool) -> None:
        """A GNSS outage: epochs go on, with GGA quality 0, RMC status V and no position."""
        with self._lock:
            self._no_fix = on

    def garbage_burst(self, n_bytes: int) -> None:
        """Write ``n_bytes`` of line noise (binary bytes, sentences with bad checksums,
        truncated lines) just before the next epoch a reader gets."""
        if n_bytes <= 0:
            raise ValueError(f"garbage burst of {n_bytes} bytes")
        with self._lock:
            self._garbage += self._make_garbage(n_bytes)

    def _epoch_sentences(self, unix_cs: int) -> bytes:
        """The GGA and RMC (CR/LF terminated) of the epoch at Unix time ``unix_cs`` / 100."""
        assert self._clock is not None
        utc = datetime.fromtimestamp(unix_cs // 100, UTC) + timedelta(
            milliseconds=10 * (unix_cs % 100)
        )
        if self._no_fix:
            return _no_fix_sentences(utc)
        t_s = unix_cs / 100 - self._clock.t0_unix
        if self._actor is not None:
            point = self._truth.position(self._actor, t_s)
            state = self._truth.state(self._actor, t_s)
            speed, course = state.speed_mps, math.degrees(state.heading_rad) % 360
        else:
            assert self._position is not None
            point, speed, course = self._position, 0.0, 0.0
        return epoch_sentences(
            utc,
            point,
            speed,
            course,
            self._quality,
            hdop=_HDOP[self._quality],
            satellites=SATELLITES,
        )

    def _open(self) -> None:
        with self._lock:
            self._plug()

    def _close(self) -> None:
        with self._lock:
            if self._plugged:
                self._unlink()
                self._close_master()
                self._plugged = False

    def _run(self, clock: ScenarioClock) -> None:
        epoch = math.floor((clock.t0_unix + clock.now_s()) / self._period_s) + 1
        while True:
            unix = epoch * self._period_s
            if self._wait_until(unix - clock.t0_unix):
                return
            self._emit(math.floor(unix * 100 + 1e-6))
            epoch += 1
            # After a stall, go on with the current epoch rather than writing old ones.
            epoch = max(epoch, math.floor((clock.t0_unix + clock.now_s()) / self._period_s))

    def _emit(self, unix_cs: int) -> None:
        with self._lock:
            self._counts["epochs"] += 1
            self._counts["epochs_no_fix"] += self._no_fix
            if not self._plugged:
                self._counts["epochs_unplugged"] += 1
                return
            _drain(self._master)
            if not _reader_present(self._master):
                self._counts["epochs_unread"] += 1
                return
            garbage, self._garbage = self._garbage, b""
            data = garbage + self._epoch_sentences(unix_cs)
            try:
                written = os.write(self._master, data)
            except BlockingIOError:
                written = 0
            self._counts["garbage_bytes"] += min(written, len(garbage))
            if written < len(data):
                self._counts["epochs_overrun"] += 1  # like a UART overrun: the rest is lost
            else:
                self._counts["epochs_delivered"] += 1

    def _plug(self) -> None:
        try:
            master, path = _open_pty()
        except OSError as err:
            raise HilEmulatorError(f"emulator {self.name!r}: cannot open a pty: {err}") from err
        try:
            _symlink(path, self.link)
        except OSError as err:
            os.close(master)
            raise HilEmulatorError(
                f"emulator {self.name!r}: cannot link {self.link} to {path}: {err}"
            ) from err
        self._master = master
        self._plugged = True

    def _unlink(self) -> None:
        if self.link.is_symlink():
            self.link.unlink()

    def _close_master(self) -> None:
        if self._master >= 0:
            with contextlib.suppress(OSError):
                os.close(self._master)
        self._master = -1

    def _check_open(self) -> None:
        if not self._opened or self._closed:
            raise HilEmulatorError(f"emulator {self.name!r} is not open")

    def _make_garbage(self, n_bytes: int) -> bytes:
        rng = self._random
        sample = format_gga(
            datetime.now(UTC), 34.2235, 108.8905, altitude_msl_m=410.0, quality=self._quality
        )
        out = bytearray()
        while len(out) < n_bytes:
            kind = rng.randrange(3)
            if kind == 0:  # binary protocol traffic on the same UART (a UBX header, noise)
                out += b"\xb5\x62" + rng.randbytes(rng.randrange(4, 40))
            elif kind == 1:  # a sentence whose checksum does not match
                body, _ = sample.split(b"*")
                wrong = (checksum(body[1:].decode()) + rng.randrange(1, 256)) % 256
                out += body + f"*{wrong:02X}\r\n".encode()
            else:  # a sentence cut off mid-line
                out += sample[: rng.randrange(1, len(sample) - 3)] + b"\r\n"
        if n_bytes < 2:
            return bytes(out[:n_bytes])
        # End on a line break, so the epoch after the burst starts a clean line.
        return bytes(out[: n_bytes - 2]) + b"\r\n"


def _no_fix_sentences(utc: datetime) -> bytes:
    """GGA and RMC as a receiver without a fix sends them: times, no position."""
    hhmmss = f"{utc:%H%M%S}.{utc.microsecond // 10_000:02d}"
    bodies = (
        f"GNGGA,{hhmmss},,,,,0,00,99.99,,,,,,",
        f"GNRMC,{hhmmss},V,,,,,,,{utc:%d%m%y},,,N",
    )
    return b"".join(f"${body}*{checksum(body):02X}\r\n".encode("ascii") for body in bodies)


def _open_pty() -> tuple[int, str]:
    """A raw pty: its non-blocking master and its slave's path, the slave closed."""
    master, slave = os.openpty()
    try:
        tty.setraw(slave)  # as a UART: no echo, no CR/LF translation
        path = os.ttyname(slave)
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    except OSError:
        os.close(master)
        raise
    finally:
        os.close(slave)  # see the module docstring: reader detection needs it closed
    return master, path


def _reader_present(master: int) -> bool:
    """Whether any process holds the slave open (no ``POLLHUP`` on the master)."""
    poller = select.poll()
    poller.register(master, select.POLLOUT)
    return not any(events & select.POLLHUP for _, events in poller.poll(0))


def _drain(master: int) -> None:
    """Discard what the reader wrote, so that its writes never block."""
    with contextlib.suppress(OSError):  # EAGAIN: nothing; EIO: no reader
        while os.read(master, 4096):
            pass


def _symlink(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` atomically; refuses to replace anything but a symlink."""
    if os.path.lexists(link) and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink")
    temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(target, temporary)
    os.replace(temporary, link)
