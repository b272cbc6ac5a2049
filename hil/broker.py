"""A private Mosquitto broker on 127.0.0.1, which the bench (and the tests) can stop and restart.

Runs as the current user (as root, Mosquitto would drop to the ``mosquitto`` user and could not
write in a private directory) and queues as the shipped ``roadgate.conf`` does.
"""

from __future__ import annotations

import getpass
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "the mosquitto broker binary is missing: run `make test` (it installs it), or "
    "`apt-get install mosquitto mosquitto-clients` (Debian/Ubuntu/Raspberry Pi OS)"
)


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and outside the kernel's ephemeral range.

    A broker is stopped and started again on its port (outages, kills): a port from the
    ephemeral range could meanwhile become the local end of some client's connection, and the
    restarted broker could not listen on it.
    """
    low = _ephemeral_range()[0]
    for _ in range(1000):
        port = random.randrange(10_000, low) if low > 10_100 else random.randrange(1024, 10_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1 below the ephemeral range")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def mosquitto_binary() -> str:
    """Path of the mosquitto binary; raises ``RuntimeError`` with an install hint if missing."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        raise RuntimeError(INSTALL_HINT)
    return found


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class MosquittoProcess:
    """One broker configuration on a fixed port: ``start()``, ``stop()``, ``start()`` again.

    ``persistent`` keeps sessions and queued QoS 1 messages in ``workdir`` across restarts;
    ``listener_config`` lines follow the listener line (TLS options); ``extra_config`` goes last.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        persistent: bool = False,
        listener_config: str = "",
        anonymous: bool = True,
        extra_config: str = "",
    ) -> None:
        self.binary = mosquitto_binary()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.conf = workdir / f"mosquitto-{self.port}.conf"
        self.log_path = workdir / f"mosquitto-{self.port}.log"
        persistence = (
            f"persistence true\npersistence_location {workdir}/\n"
            if persistent
            else "persistence false\n"
        )
        self.conf.write_text(
            f"per_listener_settings false\nuser {getpass.getuser()}\n"
            f"allow_anonymous {'true' if anonymous else 'false'}\n"
            f"listener {self.port} 127.0.0.1\n{listener_config}\n{persistence}"
            # As in firmware_py/deploy/mosquitto/roadgate.conf: a subscriber that acknowledges
            # slowly (a bridge on a lossy link, or reconnecting) must not lose its backlog to
            # Mosquitto's default limit of 1,000 queued messages per client. The bridge
            # acknowledges after its commit: an inflight window of 20 would slow it down.
            "max_queued_messages 200000\nmax_inflight_messages 1000\n"
            f"log_dest file {self.log_path}\nlog_type error\nlog_type warning\n"
            f"log_type notice\n{extra_config}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        self.process = subprocess.Popen([self.binary, "-c", str(self.conf)], stderr=subprocess.PIPE)
        wait_for_port(self.host, self.port, timeout)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM saves its persistent state; SIGKILL does not)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@contextmanager
def private_mosquitto(
    workdir: Path,
    extra_config: str = "",
    port: int | None = None,
    persistent: bool = False,
    listener_config: str = "",
    anonymous: bool = True,
) -> Iterator[Broker]:
    """Start a Mosquitto on 127.0.0.1 (a free port unless ``port``); stop it on exit."""
    broker = MosquittoProcess(
        workdir,
        port=port,
        persistent=persistent,
        listener_config=listener_config,
        anonymous=anonymous,
        extra_config=extra_config,
    )
    broker.start()
    assert broker.process is not None
    try:
        yield Broker(broker.host, broker.port, broker.process, broker.log_path)
    finally:
        broker.stop()
