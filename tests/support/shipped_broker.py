"""Mosquitto run from the shipped ``roadgate.conf``, on a free port of 127.0.0.1 with a test PKI.

Only the lines naming this machine's things are replaced: the listener's port, the certificate
files, the ACL file and the persistence directory. Every other line (TLS version, identities,
queue and packet limits) is the shipped one, so a test of this broker tests the shipped file.
"""

from __future__ import annotations

import getpass
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.certs import TestPki
from tests.support.mosquitto import Broker, free_port, mosquitto_binary, wait_for_port

DEPLOY = Path(__file__).resolve().parents[2] / "firmware_py" / "deploy" / "mosquitto"
SHIPPED_CONF = DEPLOY / "roadgate.conf"


def render_shipped_conf(
    text: str, *, port: int, pki: TestPki, acl_file: Path, workdir: Path, log_path: Path
) -> str:
    """``text`` (the shipped conf) for a private broker; raises ``AssertionError`` if a line to
    replace is missing or repeated (the shipped file changed shape: update this function)."""
    server = pki.issue("localhost", server=True)
    replacements = {
        "listener": f"listener {port} 127.0.0.1",
        "cafile": f"cafile {pki.ca_file}",
        "certfile": f"certfile {server.cert}",
        "keyfile": f"keyfile {server.key}",
        "acl_file": f"acl_file {acl_file}",
        "persistence_location": f"persistence_location {workdir}/",
    }
    lines: list[str] = []
    replaced: list[str] = []
    for line in text.splitlines():
        key = line.split(" ", 1)[0]
        if not line.startswith("#") and key in replacements:
            assert key not in replaced, f"{SHIPPED_CONF.name}: {key} given twice"
            replaced.append(key)
            lines.append(replacements[key])
        else:
            lines.append(line)
    missing = sorted(set(replacements) - set(replaced))
    assert not missing, f"{SHIPPED_CONF.name} has no {missing} line"
    # As the current user (as root, Mosquitto would switch to "mosquitto", who cannot write
    # here), logging to a file the tests can read.
    lines += [
        f"user {getpass.getuser()}",
        f"log_dest file {log_path}",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def shipped_mosquitto(workdir: Path, pki: TestPki, acl_file: Path) -> Iterator[Broker]:
    """Start Mosquitto with the shipped conf (see ``render_shipped_conf``); stop it on exit."""
    port = free_port()
    conf, log_path, stderr_path = (
        workdir / "roadgate.conf",
        workdir / "mosquitto.log",
        workdir / "mosquitto.stderr",
    )
    conf.write_text(
        render_shipped_conf(
            SHIPPED_CONF.read_text(),
            port=port,
            pki=pki,
            acl_file=acl_file,
            workdir=workdir,
            log_path=log_path,
        )
    )
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stderr=stderr)
    try:
        try:
            wait_for_port("127.0.0.1", port)
        except OSError as err:
            raise RuntimeError(
                f"mosquitto did not start from the shipped conf: {stderr_path.read_text()}"
                f"{log_path.read_text() if log_path.exists() else ''}"
            ) from err
        yield Broker("127.0.0.1", port, process, log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def shipped_mosquitto_for(workdir: Path, pki: TestPki, registry_text: str) -> Iterator[Broker]:
    """``shipped_mosquitto`` with the ACL `roadgate broker acl` makes from a device registry."""
    from firmware_py.cli import main

    registry, acl = workdir / "devices.toml", workdir / "roadgate.acl"
    registry.write_text(registry_text)
    if main(["broker", "acl", "--devices", str(registry), "--output", str(acl)]) != 0:
        raise RuntimeError(f"roadgate broker acl refused the registry {registry}")
    with shipped_mosquitto(workdir, pki, acl) as broker:
        yield broker
