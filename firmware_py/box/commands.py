"""A box's remote commands: the dispatcher on its uplink's downlink, and its config trial."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from edge.commands.dispatcher import (
    Capture,
    CommandDispatcher,
    Handler,
    Record,
    RestartHook,
    RestartService,
    Upload,
    ping,
)
from edge.commands.errors import CommandRejectedError
from edge.commands.nonces import NonceStore
from firmware_py.box.built_box import Box
from firmware_py.box.config_change import (
    Ack,
    ConfigFiles,
    ConfigTrial,
    SetConfig,
    report_rollback,
)
from firmware_py.box.process_restart import PROCESS_RESTART
from firmware_py.config.model import BoxConfig
from firmware_py.errors import FirmwareError
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("firmware_py.box")


def _log_ack(command_id: str, result: pb.AckResult.ValueType, message: str) -> None:
    # The changed config turned commands off: nothing can acknowledge, the log says it.
    log.info("command %s: %s: %s", command_id, pb.AckResult.Name(result), message)


@dataclass
class TrialBox(Box):
    """A box started with a config on trial: runs the trial's watch beside the box."""

    trial: ConfigTrial | None = None
    restart_box: Callable[[], None] = PROCESS_RESTART.request
    ack: Ack = _log_ack

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            if self.trial is not None:
                watch = self.trial.watch(self.uplink.connected, self.restart_box, self.ack)
                tasks.create_task(watch, name=f"{self.config.device.device_id}-config-trial")
            await super().run()


def attach_commands(
    box: Box,
    config: BoxConfig,
    stack: ExitStack,
    *,
    restart_service: RestartHook | None = None,
    capture: Capture | None = None,
    restart_box: Callable[[], None] = PROCESS_RESTART.request,
    now_ns: Callable[[], int] = time.time_ns,
) -> Box:
    """Make ``box``'s uplink carry out the signed commands of ``config``'s trusted keys (the
    nonce store registered on ``stack`` for closing). ``restart_service`` is the supervisor's
    hook; ``capture`` the flight recorder (None: ``record`` fails, saying why); ``restart_box``
    restarts this process (set_config, rollback).

    Returns the box to run: ``box``, or a ``TrialBox`` when this start tries a changed config.

    Raises ``FirmwareError`` when the nonce store cannot be opened.
    """
    files = ConfigFiles(Path(config.source))
    settings = config.commands
    if not settings.enabled:
        return _on_trial(box, files, restart_box, _log_ack)
    # Here, not at the top: cryptography costs a box without trusted keys about 8 MiB.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from edge.commands.verification import CommandTarget, CommandVerifier

    device = config.device
    try:
        nonces = NonceStore(_nonce_path(config), grace_s=settings.max_lifetime_s)
    except CommandRejectedError as err:
        raise FirmwareError(f"{config.source}: [commands]: {err.detail}") from err
    stack.callback(nonces.close)
    verifier = CommandVerifier(
        CommandTarget(device.region, device.device_id),
        [Ed25519PublicKey.from_public_bytes(raw) for raw in settings.trusted_keys],
        nonces,
        max_lifetime_s=settings.max_lifetime_s,
        now_ns=now_ns,
    )
    handlers: dict[str, Handler] = {
        "ping": ping,
        "set_config": SetConfig(files, settings.config_deadline_s, restart_box),
        "restart_service": RestartService(restart_service),
        "record": Record(capture, _recording_upload(config, box) if capture else None),
    }
    uplink = box.uplink

    def acknowledge(ack: pb.CommandAck) -> None:
        uplink.submit(ack, now_ns())

    dispatcher = CommandDispatcher(verifier, handlers, acknowledge)
    uplink.receive_commands(dispatcher.receive)
    box.pipeline.health.add("commands", dispatcher.counters)  # commands.acks.done, ...
    report_rollback(files, dispatcher.ack)
    log.info(
        "%s: carrying out commands signed by %d key(s)",
        device.device_id,
        len(settings.trusted_keys),
    )
    return _on_trial(box, files, restart_box, dispatcher.ack)


def _recording_upload(config: BoxConfig, box: Box) -> Upload:
    """``record upload``: cuts of this box's own flight logs, through its uplink."""
    # Here, not at the top: a box records (and so loads mcap) only with [recorder].
    from edge.recording.upload import RecordingUpload
    from edge.uplink.publisher import MAX_PAYLOAD_BYTES

    directory = config.recorder.recordings_dir(config.outbox.path)
    prefix = f"{config.device.device_id}-"
    uplink = box.uplink

    def log_files() -> list[Path]:
        # The recorder's file names sort by their start (``{device}-{UTC start}Z-{n}.mcap``).
        return sorted(path for path in directory.glob(f"{prefix}*.mcap") if path.is_file())

    return RecordingUpload(
        log_files,
        directory,
        uplink.submit,
        uplink.outbox.commit,
        device_id=uplink.identity.device_id,
        boot_id=uplink.identity.boot_id,
        max_payload_bytes=MAX_PAYLOAD_BYTES,
        now=time.time,
    )


def _on_trial(box: Box, files: ConfigFiles, restart_box: Callable[[], None], ack: Ack) -> Box:
    trial = ConfigTrial.started(files)
    if trial is None:
        return box
    fields = {item.name: getattr(box, item.name) for item in dataclasses.fields(Box)}
    return TrialBox(**fields, trial=trial, restart_box=restart_box, ack=ack)


def _nonce_path(config: BoxConfig) -> Path | str:
    state_dir = config.commands.state_dir
    if state_dir is None:
        if str(config.outbox.path) == ":memory:":
            log.warning(
                "%s: nonces kept in memory: replays after a restart go unseen", config.source
            )
            return ":memory:"
        state_dir = config.outbox.path.parent
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FirmwareError(f"cannot create the state directory {state_dir}: {err}") from err
    return state_dir / f"{config.device.device_id}-command-nonces.sqlite3"
