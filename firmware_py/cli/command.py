"""``roadgate command``: make a signing key pair; sign a command, send it to a box, await its ack.

``send`` exits 0 when the box acknowledges ``DONE``, 1 for ``REJECTED`` or ``FAILED``, 3 when
no final ack arrived within ``--timeout`` (``ACCEPTED`` is printed and waited past).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import getpass
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware_py.cli.arguments import duration

if TYPE_CHECKING:
    from protocols.mqtt_connection import MqttConnection
    from protocols.schema.v1 import roadgate_pb2 as pb

COMMANDS = ("ping", "set_config", "restart_service", "record")
EXIT_DONE, EXIT_REFUSED, EXIT_TIMEOUT = 0, 1, 3


def register(commands: Any) -> None:
    """Add ``command`` (``keygen``, ``send``) to the top-level subparsers ``commands``."""
    command = commands.add_parser("command", help="signed remote commands to boxes")
    actions = command.add_subparsers(required=True, metavar="ACTION")
    keygen = actions.add_parser("keygen", help="make an Ed25519 key pair for signing commands")
    keygen.add_argument(
        "--out", default="roadgate-command-key", help="PREFIX: writes PREFIX (0600) and PREFIX.pub"
    )
    keygen.set_defaults(handler=_keygen)
    send = actions.add_parser("send", help="sign a command, send it, wait for the box's ack")
    broker = send.add_mutually_exclusive_group()
    broker.add_argument("--config", type=Path, help="a TOML file with an [mqtt] table (bridge's)")
    broker.add_argument("--host", default="127.0.0.1", help="the broker (without --config)")
    send.add_argument("--port", type=int, default=1883, help="the broker's port (with --host)")
    send.add_argument("--key", type=Path, required=True, help="the private key (PEM) to sign with")
    send.add_argument("--device", required=True, help="REGION/DEVICE_ID of the box")
    send.add_argument("name", choices=COMMANDS, help="the command")
    send.add_argument("--patch", type=Path, help="set_config: a TOML file merged into the config")
    send.add_argument("--service", help="restart_service: the service's name")
    send.add_argument(
        "--action",
        choices=("start", "stop", "upload"),
        help="record: start, stop or upload (--arg event_id=ID [--arg seconds=S], or "
        "--arg from=T --arg to=T)",
    )
    send.add_argument(
        "--arg", action="append", default=[], metavar="KEY=VALUE", help="any further argument"
    )
    send.add_argument("--timeout", type=duration, default=60.0, help="wait this long for the ack")
    send.add_argument(
        "--lifetime", type=duration, default=300.0, help="the command expires after this long"
    )
    send.set_defaults(handler=_send)


def _keygen(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.commands.signing import key_id, raw_public_key
    from firmware_py.errors import FirmwareError

    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    private_path, public_path = Path(args.out), Path(f"{args.out}.pub")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        # Created 0600 and never over an existing key: a lost key cannot be made again.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        public_path.write_bytes(public_pem)
    except OSError as err:
        raise FirmwareError(f"cannot write the key pair {args.out}: {err}") from err
    print(f"private key: {private_path} (keep it secret)")
    print(f"public key:  {public_path}, key id {key_id(public)}")
    print("the box's [commands] trusted_keys entry:")
    print(f'  "{base64.b64encode(raw_public_key(public)).decode()}"')
    return 0


def _send(args: argparse.Namespace) -> int:
    from edge.commands.signing import private_key_from_pem, sign
    from firmware_py.config.loader import load_bridge_config
    from firmware_py.errors import FirmwareError
    from protocols.mqtt_connection import MqttConnection
    from protocols.schema.v1 import roadgate_pb2 as pb
    from protocols.topics import check_segment

    region, _, device_id = args.device.partition("/")
    try:
        check_segment("region", region)
        check_segment("device id", device_id)
    except ValueError as err:
        raise FirmwareError(f"--device {args.device!r}: REGION/DEVICE_ID: {err}") from err
    try:
        key = private_key_from_pem(args.key.read_bytes())
    except (OSError, ValueError) as err:
        raise FirmwareError(f"--key {args.key}: {err}") from err
    if args.config is not None:
        mqtt = load_bridge_config(args.config).mqtt
    else:
        mqtt = MqttConnection(args.host, args.port)
    now = time.time_ns()
    command = pb.Command(
        command_id=uuid.uuid4().hex,
        name=args.name,
        arguments=_arguments(args),
        expires_time_ns=now + int(args.lifetime * 1e9),
        issuer=getpass.getuser(),
        nonce=os.urandom(16),
        target=f"{region}/{device_id}",
    )
    sign(command, key)
    return asyncio.run(_publish_and_wait(mqtt, region, device_id, command, args.timeout))


def _arguments(args: argparse.Namespace) -> dict[str, str]:
    from firmware_py.errors import FirmwareError

    arguments: dict[str, str] = {}
    for item in args.arg:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise FirmwareError(f"--arg {item!r}: expected KEY=VALUE")
        arguments[name] = value
    if args.patch is not None:
        try:
            arguments["patch"] = args.patch.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise FirmwareError(f"--patch {args.patch}: {err}") from err
    if args.service is not None:
        arguments["name"] = args.service
    if args.action is not None:
        arguments["action"] = args.action
    return arguments


async def _publish_and_wait(
    mqtt: MqttConnection, region: str, device_id: str, command: pb.Command, timeout_s: float
) -> int:
    import aiomqtt

    from firmware_py.errors import FirmwareError
    from protocols.envelope import decode, seal
    from protocols.errors import ProtocolError
    from protocols.schema.v1 import roadgate_pb2 as pb
    from protocols.topics import Stream, Topic

    now = time.time_ns()
    envelope = seal(
        command,
        device_id=device_id,
        boot_id=str(uuid.uuid4()),
        sequence=1,
        capture_time_ns=now,
        publish_time_ns=now,
        clock_source=pb.CLOCK_SOURCE_SYSTEM,
    )
    tls = None if mqtt.tls is None else aiomqtt.TLSParameters(**dataclasses.asdict(mqtt.tls))
    client = aiomqtt.Client(
        mqtt.host,
        mqtt.port,
        identifier=f"roadgate-command-{uuid.uuid4().hex[:12]}",
        username=mqtt.username,
        password=mqtt.password,
        tls_params=tls,
        protocol=aiomqtt.ProtocolVersion.V5 if mqtt.mqtt5 else None,
    )
    try:
        async with client, asyncio.timeout(timeout_s):
            await client.subscribe(str(Topic(region, device_id, Stream.ACK)), qos=1)
            await client.publish(
                str(Topic(region, device_id, Stream.CMD)), envelope.SerializeToString(), qos=1
            )
            print(f"sent {command.name} {command.command_id} to {region}/{device_id}")
            async for message in client.messages:
                if not isinstance(message.payload, bytes):
                    continue
                try:
                    ack = decode(message.payload).command_ack
                except ProtocolError:
                    continue
                if ack.command_id != command.command_id:
                    continue
                print(f"{pb.AckResult.Name(ack.result).removeprefix('ACK_RESULT_')}: {ack.message}")
                if ack.result == pb.ACK_RESULT_DONE:
                    return EXIT_DONE
                if ack.result in (pb.ACK_RESULT_REJECTED, pb.ACK_RESULT_FAILED):
                    return EXIT_REFUSED
    except TimeoutError:
        print(f"no final ack within {timeout_s:g} s")
        return EXIT_TIMEOUT
    except aiomqtt.MqttError as err:
        raise FirmwareError(f"broker {mqtt.host}:{mqtt.port}: {err}") from err
    return EXIT_TIMEOUT
