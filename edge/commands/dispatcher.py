"""Carries out verified commands and acknowledges every payload on the ``cmd`` topic.

Each payload gets one ack on ``ack`` with the command's id ("" when it could not be read):
``REJECTED`` with the reason (``CommandRejectedError``), else the handler's outcome. A handler that
fails unexpectedly is acknowledged ``FAILED``, logged and counted; it never ends the uplink's
session that delivered the payload. Commands run one at a time, in arrival order.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from edge.commands.errors import CommandRejectedError
from edge.recording.upload_request import UploadRequest
from protocols.schema.v1 import roadgate_pb2 as pb

if TYPE_CHECKING:  # its cryptography is imported by a box with trusted keys only
    from edge.commands.verification import CommandVerifier
    from edge.recording.upload import UploadResult

log = logging.getLogger("edge.commands")


@dataclass(frozen=True)
class Outcome:
    result: pb.AckResult.ValueType
    message: str = ""


Handler = Callable[[pb.Command], Awaitable[Outcome]]
"""Carries out one verified command; raises ``CommandRejectedError`` for bad arguments."""
Acknowledge = Callable[[pb.CommandAck], None]
"""Sends an ack (the uplink's ``submit``)."""
RestartHook = Callable[[str], Awaitable[None] | None]
"""Restarts the named service (the supervisor's); raises when it cannot."""


class CommandDispatcher:
    """``receive`` is the uplink's downlink handler: verify, run, acknowledge."""

    def __init__(
        self,
        verifier: CommandVerifier,
        handlers: Mapping[str, Handler],
        acknowledge: Acknowledge,
    ) -> None:
        self._verifier = verifier
        self._handlers = handlers
        self._acknowledge = acknowledge
        self.results: Counter[str] = Counter()  # per ack result
        self.rejected: Counter[str] = Counter()  # per reason

    async def receive(self, payload: bytes) -> None:
        """Handle one payload from the ``cmd`` topic; never raises for what it holds."""
        try:
            command = self._verifier.verify(payload)
            handler = self._handlers.get(command.name)
            if handler is None:
                known = ", ".join(sorted(self._handlers))
                raise CommandRejectedError(
                    "unknown_command", f"{command.name!r} is not one of {known}", command.command_id
                )
            log.info("command %s: %s from key %s", command.command_id, command.name, command.key_id)
            outcome = await self._run(handler, command)
        except CommandRejectedError as err:
            self.rejected[err.reason] += 1
            log.warning("command %r rejected: %s", err.command_id, err)
            self.ack(err.command_id, pb.ACK_RESULT_REJECTED, str(err))
            return
        self.ack(command.command_id, outcome.result, outcome.message)

    @staticmethod
    async def _run(handler: Handler, command: pb.Command) -> Outcome:
        try:
            return await handler(command)
        except CommandRejectedError as err:
            raise CommandRejectedError(err.reason, err.detail, command.command_id) from err
        except Exception as err:  # a handler's bug must not end the uplink's session
            log.exception("command %s (%s) failed", command.command_id, command.name)
            return Outcome(pb.ACK_RESULT_FAILED, f"internal error: {err!r}")

    def ack(self, command_id: str, result: pb.AckResult.ValueType, message: str) -> None:
        """Send an ack (also for a command whose outcome is known only later)."""
        self.results[pb.AckResult.Name(result)] += 1
        self._acknowledge(pb.CommandAck(command_id=command_id, result=result, message=message))

    def counters(self) -> Mapping[str, int]:
        """Acks per result (``acks.done``...) and rejections per reason (``rejected.expired``...),
        for health reports."""
        flat = {f"acks.{k.removeprefix('ACK_RESULT_').lower()}": v for k, v in self.results.items()}
        flat.update({f"rejected.{k}": v for k, v in self.rejected.items()})
        return flat


def argument(command: pb.Command, name: str) -> str:
    """A required argument; raises ``CommandRejectedError`` (``bad_arguments``) without it."""
    value = command.arguments.get(name, "")
    if not value:
        raise CommandRejectedError("bad_arguments", f"{command.name} needs the argument {name!r}")
    return value


async def ping(command: pb.Command) -> Outcome:
    """Answers: the box is there and carries out signed commands."""
    del command
    return Outcome(pb.ACK_RESULT_DONE, "pong")


async def record_unavailable(command: pb.Command) -> Outcome:
    """``record`` on a box without a recorder: the ack says so."""
    del command
    return Outcome(pb.ACK_RESULT_FAILED, "not available: no [recorder] in this box's config")


MAX_CAPTURE_S = 7 * 24 * 3600.0


class Capture(Protocol):
    """Starts and stops the flight recorder (``edge.recording.switch.RecorderSwitch``)."""

    def start(self, duration_s: float | None = None) -> str:
        """Record (for ``duration_s``, or until stopped); returns what it did. Raises when
        it cannot record."""
        ...

    def stop(self) -> str:
        """Finish the capture; returns what it did."""
        ...


class Upload(Protocol):
    """Cuts the flight logs and queues the cut (``edge.recording.upload.RecordingUpload``)."""

    async def upload(self, request: UploadRequest, command_id: str) -> UploadResult:
        """Queue the cut ``request`` asks for; the result says what was queued, or why not."""
        ...


class Record:
    """``record`` with argument ``action``: ``start`` (optionally ``duration_s``: stops by
    itself after that), ``stop``, or ``upload`` (``event_id`` with ``seconds``, or ``from``
    and ``to``: see ``UploadRequest``) through ``upload``; ``capture`` None: the box has no
    recorder, and the ack says so."""

    def __init__(self, capture: Capture | None, upload: Upload | None = None) -> None:
        self._capture = capture
        self._upload = upload

    async def __call__(self, command: pb.Command) -> Outcome:
        action = argument(command, "action")
        if action not in ("start", "stop", "upload"):
            raise CommandRejectedError(
                "bad_arguments", f"record action {action!r}: start, stop or upload"
            )
        duration_s = _duration(command) if action == "start" else None
        request = _upload_request(command) if action == "upload" else None
        if self._capture is None:
            return await record_unavailable(command)
        if request is not None:
            if self._upload is None:
                return Outcome(pb.ACK_RESULT_FAILED, "not available: this box cannot upload")
            result = await self._upload.upload(request, command.command_id)
            return Outcome(
                pb.ACK_RESULT_DONE if result.done else pb.ACK_RESULT_FAILED, result.message
            )
        if action == "stop":
            return Outcome(pb.ACK_RESULT_DONE, self._capture.stop())
        try:
            return Outcome(pb.ACK_RESULT_DONE, self._capture.start(duration_s))
        except Exception as err:  # the recorder's refusal (a directory it cannot write)
            return Outcome(pb.ACK_RESULT_FAILED, f"cannot record: {err}")


def _upload_request(command: pb.Command) -> UploadRequest:
    try:
        return UploadRequest.from_arguments(command.arguments)
    except ValueError as err:
        raise CommandRejectedError("bad_arguments", str(err)) from err


def _duration(command: pb.Command) -> float | None:
    text = command.arguments.get("duration_s", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_CAPTURE_S):
        raise CommandRejectedError(
            "bad_arguments", f"record duration_s {text!r}: seconds in (0, {MAX_CAPTURE_S:g}]"
        )
    return value


class RestartService:
    """``restart_service`` with argument ``name``, through the supervisor's hook (None: the
    box runs without one, and the ack says so)."""

    def __init__(self, hook: RestartHook | None) -> None:
        self._hook = hook

    async def __call__(self, command: pb.Command) -> Outcome:
        name = argument(command, "name")
        if self._hook is None:
            return Outcome(pb.ACK_RESULT_FAILED, "not available: no supervisor to restart with")
        try:
            result = self._hook(name)
            if inspect.isawaitable(result):
                await result
        except Exception as err:  # the supervisor's refusal, whatever its type
            return Outcome(pb.ACK_RESULT_FAILED, f"cannot restart {name!r}: {err}")
        return Outcome(pb.ACK_RESULT_DONE, f"restarted {name!r}")
