"""The broker: one MQTT connection with the box's settings (TLS, credentials), under a client
id of its own so that a running box keeps its session."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from dataclasses import asdict

import aiomqtt

from firmware_py.doctor.findings import Finding, failed, passed
from protocols.mqtt_connection import MqttConnection


def check_broker(mqtt: MqttConnection, device_id: str, timeout_s: float) -> Finding:
    """Connect to the broker ``mqtt`` names and disconnect."""
    where = f"{mqtt.host}:{mqtt.port} ({'TLS' if mqtt.tls else 'plaintext'})"
    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(_connect(mqtt, device_id, timeout_s), timeout_s + 1))
    except (aiomqtt.MqttError, OSError, TimeoutError) as err:
        return failed("broker", f"cannot connect to {where}: {_reason(err)}", _fix(err, mqtt))
    return passed("broker", f"connected to {where} in {(time.monotonic() - started) * 1000:.0f} ms")


async def _connect(mqtt: MqttConnection, device_id: str, timeout_s: float) -> None:
    client = aiomqtt.Client(
        mqtt.host,
        mqtt.port,
        identifier=f"{mqtt.client_id or device_id}-doctor-{os.getpid()}",
        username=mqtt.username,
        password=mqtt.password,
        tls_params=None if mqtt.tls is None else aiomqtt.TLSParameters(**asdict(mqtt.tls)),
        timeout=timeout_s,
    )
    async with client:
        pass


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text


def _fix(err: BaseException, mqtt: MqttConnection) -> str:
    text = _reason(err).lower()
    if mqtt.tls is not None and _has(err, FileNotFoundError):
        return "check the paths of [mqtt] ca_file, cert_file and key_file"
    if _has(err, ssl.SSLError) or "ssl" in text or "certificate" in text:
        return (
            "check [mqtt] ca_file (the broker's CA), cert_file and key_file, that the "
            f"certificate names {mqtt.host}, and the board's clock (certificates have dates)"
        )
    if "not authori" in text or "bad user" in text or "bad_user" in text:
        return "check [mqtt] username and password (or the client certificate) and the ACL"
    if mqtt.tls is not None and (_has(err, ConnectionResetError) or "eof" in text):
        return (
            f"the listener on port {mqtt.port} hung up on the TLS handshake: is it a TLS "
            "listener (8883 usually)? check [mqtt] port and ca_file"
        )
    if _has(err, ConnectionRefusedError) or "refused" in text:
        return (
            f"start the broker on {mqtt.host} or correct [mqtt] host and port "
            f"({mqtt.port}: 8883 is TLS, 1883 plaintext)"
        )
    hint = "" if mqtt.tls is not None else "; a TLS listener needs [mqtt] ca_file"
    return f"check the network route to {mqtt.host} (ping, DNS, firewall), [mqtt] host, port{hint}"


def _has(err: BaseException | None, kind: type[BaseException]) -> bool:
    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, kind):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False
