"""``set_config``: a TOML patch applied to the box's config file, tried, kept or rolled back.

What happens, in order (``P`` is the file ``roadgate run --config P`` reads):

1. The patch (TOML text, argument ``patch``) is merged into ``P``'s document: its tables into
   the file's tables, every other value replacing the file's (an array of tables as a whole);
   comments and layout of ``P`` are kept. The result is checked by the loader; a config it
   refuses is ``REJECTED`` with the loader's message and nothing is written.
2. ``P`` is copied to ``P.previous``, a marker ``P.pending`` (command id, deadline) written,
   and the new text replaces ``P`` (each write a temporary file renamed over the old one).
   The ack is ``ACCEPTED``; the process restarts itself (``process_restart``).
3. At the next start, ``roadgate run`` finds the marker: the first start with it is the new
   config's trial. The box must connect to its broker within the deadline (the
   ``config_deadline_s`` of the config that accepted the change); then the marker goes and
   the command is acknowledged ``DONE``.
4. Otherwise ``P.previous`` is put back and the process restarts with it: when the deadline
   passes, and also when a start finds the marker of a trial that already started (the trial
   crashed, failed to build the box, or was killed). The restarted box acknowledges the
   command ``FAILED`` with why (from the marker ``P.rolled-back``).

Connected is the test because it is what keeps a remote box manageable: it built every port
and reaches the broker that carries its commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tomllib
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from edge.commands.dispatcher import Outcome, argument
from edge.commands.errors import CommandRejectedError
from firmware_py.config.loader import parse_box_config
from firmware_py.config.reader import Table
from firmware_py.errors import ConfigError, FirmwareError
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("firmware_py.box")

Ack = Callable[[str, pb.AckResult.ValueType, str], None]
"""Acknowledges a command by id: ``CommandDispatcher.ack``."""


@dataclass(frozen=True)
class ConfigFiles:
    """A config file and the files of its changes beside it."""

    path: Path

    def _beside(self, suffix: str) -> Path:
        return self.path.with_name(self.path.name + suffix)

    @property
    def previous(self) -> Path:
        return self._beside(".previous")

    @property
    def pending(self) -> Path:
        return self._beside(".pending")

    @property
    def rolled_back(self) -> Path:
        return self._beside(".rolled-back")


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once: a reader (or a power cut) sees old or new."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def merge(document: MutableMapping[str, Any], patch: Mapping[str, Any]) -> None:
    """Merge ``patch`` into ``document``: tables recursively, other values replaced."""
    for key, value in patch.items():
        old = document.get(key)
        if isinstance(value, Mapping) and isinstance(old, MutableMapping):
            merge(old, value)
        else:
            document[key] = value


def patched_text(current: str, patch: str) -> str:
    """``current`` with ``patch`` merged in; raises ``ValueError`` for text that is not TOML."""
    try:
        changes = tomlkit.parse(patch)
    except TOMLKitError as err:
        raise ValueError(f"the patch is not valid TOML: {err}") from err
    try:
        document = tomlkit.parse(current)
        merge(document, changes)
        return tomlkit.dumps(document)
    except TOMLKitError as err:
        raise ValueError(f"the config file cannot be patched: {err}") from err


def check_config(text: str, files: ConfigFiles) -> None:
    """Raise ``ConfigError`` when the loader refuses ``text`` as the content of the file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{files.path}: not valid TOML: {err}") from err
    parse_box_config(Table.document(data, str(files.path)), base_dir=files.path.parent)


class SetConfig:
    """The ``set_config`` handler of the box whose config file is ``files.path``."""

    def __init__(self, files: ConfigFiles, deadline_s: float, restart: Callable[[], None]) -> None:
        self._files = files
        self._deadline_s = deadline_s
        self._restart = restart

    async def __call__(self, command: pb.Command) -> Outcome:
        patch = argument(command, "patch")
        files = self._files
        if files.pending.exists():
            raise CommandRejectedError("busy", "another config change is on trial")
        try:
            current = files.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            return Outcome(pb.ACK_RESULT_FAILED, f"cannot read {files.path}: {err}")
        try:
            # Off the event loop: loading the DBC and mapping takes a few hundred milliseconds.
            text = await asyncio.to_thread(_patched_and_checked, current, patch, files)
        except (ValueError, ConfigError) as err:
            raise CommandRejectedError("invalid_config", str(err)) from err
        marker = {
            "command_id": command.command_id,
            "attempts": 0,
            "deadline_s": self._deadline_s,
            # The box restarts in place (same pid): another process starting on this config
            # meanwhile is a second instance and must leave the trial alone.
            "pid": os.getpid(),
        }
        try:
            write_atomically(files.previous, current)
            write_atomically(files.pending, json.dumps(marker))
            write_atomically(files.path, text)
        except OSError as err:
            with contextlib.suppress(OSError):
                files.pending.unlink(missing_ok=True)
            return Outcome(pb.ACK_RESULT_FAILED, f"cannot write {files.path}: {err}")
        log.warning("config %s changed by command %s: restarting", files.path, command.command_id)
        self._restart()
        return Outcome(
            pb.ACK_RESULT_ACCEPTED,
            f"written; restarting with it: rolled back unless connected within "
            f"{self._deadline_s:g} s",
        )


def _patched_and_checked(current: str, patch: str, files: ConfigFiles) -> str:
    text = patched_text(current, patch)
    check_config(text, files)
    return text


def begin_config_trial(path: Path) -> None:
    """At a box's start, before its config is read: count a start of a config on trial, and
    roll back a trial that already had its start (it did not confirm: it failed).

    Raises ``FirmwareError`` when the files cannot be written.
    """
    files = ConfigFiles(path)
    marker = _read_marker(files.pending)
    if marker is None or _held_by_another_process(marker):
        return  # no trial; or the box trying it runs (this start is refused by its lock)
    try:
        if marker.get("attempts") == 0:
            marker["attempts"] = 1
            write_atomically(files.pending, json.dumps(marker))
            log.warning("%s: trying the configuration changed by a command", path)
            return
        roll_back(files, marker, "the box stopped before it connected with the new configuration")
    except OSError as err:
        raise FirmwareError(f"{path}: cannot try or roll back a changed config: {err}") from err


def roll_back(files: ConfigFiles, marker: Mapping[str, Any], reason: str) -> None:
    """Put ``files.previous`` back and note why, for the restarted box to acknowledge."""
    log.error("%s: rolling back the configuration change: %s", files.path, reason)
    try:
        write_atomically(files.path, files.previous.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        reason = f"{reason}; the previous configuration could not be restored: {err}"
        log.error("%s: %s", files.path, reason)
    note = {"command_id": str(marker.get("command_id", "")), "reason": reason}
    write_atomically(files.rolled_back, json.dumps(note))
    files.pending.unlink(missing_ok=True)


def report_rollback(files: ConfigFiles, ack: Ack) -> None:
    """Acknowledge ``FAILED`` the change a previous start rolled back, once."""
    note = _read_marker(files.rolled_back)
    if note is None:
        return
    ack(str(note.get("command_id", "")), pb.ACK_RESULT_FAILED, f"rolled back: {note.get('reason')}")
    files.rolled_back.unlink(missing_ok=True)


class ConfigTrial:
    """This start's trial of a changed config: confirmed once the box is connected."""

    def __init__(self, files: ConfigFiles, marker: Mapping[str, Any]) -> None:
        self.files = files
        self.command_id = str(marker.get("command_id", ""))
        deadline = marker.get("deadline_s")
        self.deadline_s = float(deadline) if isinstance(deadline, int | float) else 120.0

    @classmethod
    def started(cls, files: ConfigFiles) -> ConfigTrial | None:
        """The trial ``begin_config_trial`` counted for this start, if any."""
        marker = _read_marker(files.pending)
        return cls(files, marker) if marker is not None and marker.get("attempts") else None

    async def watch(self, connected: asyncio.Event, restart: Callable[[], None], ack: Ack) -> None:
        """Confirm (ack ``DONE``) when ``connected`` is set within the deadline; else roll back
        and ``restart``."""
        try:
            await asyncio.wait_for(connected.wait(), self.deadline_s)
        except TimeoutError:
            reason = f"not connected within {self.deadline_s:g} s with the new configuration"
            roll_back(self.files, {"command_id": self.command_id}, reason)
            restart()
            return
        self.files.pending.unlink(missing_ok=True)
        log.info("%s: the changed configuration is connected: kept", self.files.path)
        ack(self.command_id, pb.ACK_RESULT_DONE, "configuration applied and connected")


def _read_marker(path: Path) -> dict[str, Any] | None:
    """A marker's JSON object; None without the file. An unreadable one reads as ``{}``
    (for a trial marker: a trial already started, so it is rolled back)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _held_by_another_process(marker: Mapping[str, Any]) -> bool:
    """Whether the box that wrote ``marker`` is another process still running."""
    pid = marker.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
