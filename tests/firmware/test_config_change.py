"""set_config: a patch checked by the loader, written beside the old file, tried at the next
start, kept once connected or rolled back (deadline passed, or a trial that never confirmed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.commands.errors import CommandRejectedError
from firmware_py.box.config_change import (
    Ack,
    ConfigFiles,
    ConfigTrial,
    SetConfig,
    begin_config_trial,
    patched_text,
    report_rollback,
)
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from protocols.schema.v1 import roadgate_pb2 as pb

Acks = list[tuple[str, int, str]]


@pytest.fixture
def files(tmp_path: Path) -> ConfigFiles:
    path = tmp_path / "box.toml"
    path.write_text((EXAMPLES_DIR / "vehicle-toyota.toml").read_text())
    return ConfigFiles(path)


def set_config(patch: str) -> pb.Command:
    return pb.Command(command_id=uuid.uuid4().hex, name="set_config", arguments={"patch": patch})


def apply(files: ConfigFiles, patch: str, restarts: list[str], deadline_s: float = 5.0) -> str:
    handler = SetConfig(files, deadline_s, lambda: restarts.append("restart"))
    outcome = asyncio.run(handler(set_config(patch)))
    assert outcome.result == pb.ACK_RESULT_ACCEPTED
    return outcome.message


def test_a_patch_is_merged_keeping_the_files_comments(files: ConfigFiles) -> None:
    old = files.path.read_text()
    restarts: list[str] = []
    apply(files, "[health]\nperiod_s = 2\n[mqtt]\nkeepalive_s = 10\n", restarts)
    assert restarts == ["restart"]
    assert files.previous.read_text() == old
    new = files.path.read_text()
    assert "# A vehicle gateway on a Toyota" in new
    config = load_box_config(files.path)
    assert (config.health_period_s, config.uplink.mqtt.keepalive_s) == (2.0, 10)
    assert config.uplink.mqtt.port == 1883  # the rest of [mqtt] stays
    assert json.loads(files.pending.read_text())["attempts"] == 0


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ("[health]\nperiod_s = -1\n", "period_s"),
        ("[health\n", "TOML"),
        ("[nonsense]\nx = 1\n", "unknown key"),
        ('[device]\nrole = "toaster"\n', "role"),
    ],
)
def test_a_config_the_loader_refuses_is_rejected_unwritten(
    files: ConfigFiles, patch: str, words: str
) -> None:
    old = files.path.read_text()
    handler = SetConfig(files, 5.0, lambda: pytest.fail("restarted"))
    with pytest.raises(CommandRejectedError) as refused:
        asyncio.run(handler(set_config(patch)))
    assert refused.value.reason == "invalid_config"
    assert words in str(refused.value)
    assert files.path.read_text() == old
    assert not files.pending.exists()
    assert not files.previous.exists()


def test_a_second_change_waits_for_the_first(files: ConfigFiles) -> None:
    apply(files, "[health]\nperiod_s = 2\n", [])
    handler = SetConfig(files, 5.0, lambda: pytest.fail("restarted"))
    with pytest.raises(CommandRejectedError, match="busy"):
        asyncio.run(handler(set_config("[health]\nperiod_s = 3\n")))


def test_a_connected_trial_is_kept_and_acknowledged(files: ConfigFiles) -> None:
    apply(files, "[health]\nperiod_s = 2\n", [])
    new = files.path.read_text()
    begin_config_trial(files.path)
    trial = ConfigTrial.started(files)
    assert trial is not None
    acks: Acks = []
    connected = asyncio.Event()
    connected.set()
    asyncio.run(trial.watch(connected, lambda: pytest.fail("restarted"), _record(acks)))
    assert acks == [(trial.command_id, pb.ACK_RESULT_DONE, "configuration applied and connected")]
    assert files.path.read_text() == new
    assert not files.pending.exists()
    begin_config_trial(files.path)  # the next start is an ordinary one
    assert files.path.read_text() == new


def test_a_trial_not_connected_in_time_is_rolled_back(files: ConfigFiles) -> None:
    old = files.path.read_text()
    apply(files, "[mqtt]\nport = 1\n", [], deadline_s=0.05)
    begin_config_trial(files.path)
    trial = ConfigTrial.started(files)
    assert trial is not None
    restarts: list[str] = []

    async def watch_unconnected() -> None:
        await trial.watch(asyncio.Event(), lambda: restarts.append("restart"), _record([]))

    asyncio.run(watch_unconnected())
    assert restarts == ["restart"]
    assert files.path.read_text() == old
    assert not files.pending.exists()
    acks: Acks = []
    report_rollback(files, _record(acks))  # the restarted box says so, once
    report_rollback(files, _record(acks))
    [(command_id, result, message)] = acks
    assert (command_id, result) == (trial.command_id, pb.ACK_RESULT_FAILED)
    assert message == "rolled back: not connected within 0.05 s with the new configuration"


def test_a_trial_that_never_confirmed_is_rolled_back_at_the_next_start(files: ConfigFiles) -> None:
    old = files.path.read_text()
    apply(files, "[health]\nperiod_s = 2\n", [])
    begin_config_trial(files.path)  # the trial starts... and the process dies
    assert files.path.read_text() != old
    begin_config_trial(files.path)
    assert files.path.read_text() == old
    acks: Acks = []
    report_rollback(files, _record(acks))
    assert acks[0][1] == pb.ACK_RESULT_FAILED
    assert "stopped before it connected" in acks[0][2]


def test_a_second_instance_leaves_the_running_boxs_trial_alone(files: ConfigFiles) -> None:
    apply(files, "[health]\nperiod_s = 2\n", [])
    trying = files.path.read_text()
    marker = json.loads(files.pending.read_text())
    # The box trying the change is another process, alive: this start is a second instance.
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as other:
        try:
            marker["pid"] = other.pid
            files.pending.write_text(json.dumps(marker))
            begin_config_trial(files.path)
            begin_config_trial(files.path)
            assert files.path.read_text() == trying
            assert json.loads(files.pending.read_text())["attempts"] == 0
        finally:
            other.kill()
    other.wait()
    begin_config_trial(files.path)  # that box is gone: the trial is counted now
    assert json.loads(files.pending.read_text())["attempts"] == 1


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=100))
def test_any_patch_text_merges_or_is_a_value_error(patch: str) -> None:
    with contextlib.suppress(ValueError):  # anything else fails the test
        patched_text("[mqtt]\nport = 1883 # the broker\n", patch)


def _record(acks: Acks) -> Ack:
    def ack(command_id: str, result: pb.AckResult.ValueType, message: str) -> None:
        acks.append((command_id, result, message))

    return ack
