"""``roadgate bridge``: the cloud bridge from its config; ``roadgate bridge migrate``: its schema;
``roadgate bridge recording``: a flight-log cut a box uploaded, out of the store.

``migrate`` is an optional sub-action, so ``roadgate bridge --config FILE`` runs the bridge as
it always did, and ``roadgate bridge migrate --config FILE`` (or ``roadgate bridge --config FILE
migrate``) applies the PostgreSQL store's migrations and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from firmware_py.cli.arguments import duration

_LOG = logging.getLogger("firmware_py")


def register(commands: Any) -> None:
    """Add ``bridge`` (and its ``migrate`` sub-action) to the top-level subparsers."""
    bridge = commands.add_parser(
        "bridge",
        help="run the cloud bridge",
        usage="%(prog)s --config CONFIG [--duration DURATION] [migrate | recording ...]",
    )
    # Not required here: ``bridge migrate --config FILE`` gives it to the sub-action instead.
    bridge.add_argument("--config", type=Path, help="the bridge's TOML config (required)")
    bridge.add_argument(
        "--duration", type=duration, default=0.0, help="stop after this many seconds"
    )
    bridge.add_argument(
        "--http",
        metavar="ADDR:PORT",
        help="serve the HTTP API and dashboard here (a bare PORT: on 127.0.0.1); "
        "overrides [web] listen",
    )
    bridge.set_defaults(handler=_bridge, bridge_parser=bridge)
    actions = bridge.add_subparsers(metavar="ACTION", required=False)
    migrate = actions.add_parser(
        "migrate",
        help="apply the PostgreSQL store's schema migrations, then exit",
        description="Apply the migrations the PostgreSQL database named by [bridge] store lacks "
        "(each in one transaction, recorded in schema_migrations); already applied ones are "
        "skipped, so running it again changes nothing.",
    )
    # SUPPRESS: absent here, the value given before ``migrate`` stays.
    migrate.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="the bridge's TOML config"
    )
    migrate.set_defaults(handler=_migrate)
    recording = actions.add_parser(
        "recording",
        help="write a flight-log cut a box uploaded (record upload) from the store to a file",
        description="Reassembles the capture's chunks from the store of [bridge] and checks "
        "them against their count, size and SHA-256; exits 1, saying which chunks are missing "
        "or wrong, when the capture is incomplete or corrupted (nothing is written then).",
    )
    recording.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="the bridge's TOML config"
    )
    recording.add_argument("--device", required=True, help="the box's device id")
    recording.add_argument("--capture", required=True, help="the capture id the box's ack named")
    recording.add_argument("-o", "--out", type=Path, required=True, help="the MCAP file to write")
    recording.set_defaults(handler=_recording)


def _config(args: argparse.Namespace) -> Path:
    if args.config is None:
        args.bridge_parser.error("the following arguments are required: --config")
    config: Path = args.config
    return config


def _bridge(args: argparse.Namespace) -> int:
    from cloud_bridge.service import BridgeService
    from firmware_py.broker_security import warn_if_plaintext
    from firmware_py.config.loader import load_bridge_config
    from firmware_py.lifecycle import run_until_stopped

    config = _config(args)
    settings = load_bridge_config(config)
    mqtt = settings.mqtt
    warn_if_plaintext(mqtt.host, mqtt.port, tls=mqtt.tls is not None, source=str(config))
    _LOG.info("bridge: %s:%d -> %s", mqtt.host, mqtt.port, _store_name(settings))
    if args.http is None and settings.web is None:
        asyncio.run(run_until_stopped(BridgeService(settings).run(), args.duration or None))
        return 0
    # Imported here: a bridge without [web] or --http needs no web framework.
    import dataclasses

    from cloud_bridge.web.server import run_bridge_with_web
    from cloud_bridge.web.settings import WebSettings
    from cloud_bridge.web.web_config import parse_listen

    web = settings.web or WebSettings()
    if args.http is not None:
        try:
            host, port = parse_listen(args.http)
        except ValueError as err:
            args.bridge_parser.error(f"--http {err}")
        web = dataclasses.replace(web, host=host, port=port)
    asyncio.run(run_until_stopped(run_bridge_with_web(settings, web), args.duration or None))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from firmware_py.config.loader import load_bridge_config

    config = _config(args)
    settings = load_bridge_config(config)
    if settings.store_dsn is None:
        print(f"{config}: the store is SQLite ({settings.store_path}): it needs no migrations")
        return 0
    for line in migrate_postgres(settings.store_dsn):
        print(line)
    return 0


def _recording(args: argparse.Namespace) -> int:
    from cloud_bridge.recordings import reassemble, stored_chunks
    from firmware_py.config.loader import load_bridge_config
    from firmware_py.errors import FirmwareError

    settings = load_bridge_config(_config(args))
    store = settings.store_dsn if settings.store_dsn is not None else settings.store_path
    chunks, unreadable = stored_chunks(store, args.device, args.capture)
    result = reassemble(args.capture, chunks)
    if unreadable:
        print(f"roadgate bridge recording: {unreadable} stored chunks unreadable", file=sys.stderr)
    if result.data is None:
        print(f"roadgate bridge recording: {result.describe()}", file=sys.stderr)
        return 1
    try:
        args.out.write_bytes(result.data)
    except OSError as err:
        raise FirmwareError(f"cannot write {args.out}: {err.strerror or err}") from err
    print(f"{result.describe()}; written to {args.out}")
    return 0


def migrate_postgres(dsn: str) -> list[str]:
    """Migrate the database at ``dsn``; returns what was done, one line each.

    Raises ``StoreError`` when the database cannot be reached or a migration fails.
    """
    import psycopg

    from cloud_bridge.errors import StoreError
    from cloud_bridge.store.postgres_store import describe_dsn
    from cloud_bridge.store.schema_migrations import latest_version, migrate, timescaledb_available

    where = describe_dsn(dsn)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            applied = migrate(conn)
            timescale = timescaledb_available(conn)
    except psycopg.Error as err:
        raise StoreError(f"cannot migrate {where}: {err}") from err
    lines = [f"applied {m.version:04d}_{m.name}" for m in applied]
    lines.append(f"{where}: schema at version {latest_version()}")
    if timescale:
        lines.append(
            "TimescaleDB is available; the history uses native daily partitions all the same"
        )
    return lines


def _store_name(settings: Any) -> str:
    if settings.store_dsn is None:
        return str(settings.store_path)
    from cloud_bridge.store.postgres_store import describe_dsn

    return describe_dsn(settings.store_dsn)
