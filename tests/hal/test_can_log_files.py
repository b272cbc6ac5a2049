"""CAN log files through hal: real logs read as batches, round trips, bad files as LogFileError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import (
    FLAG_BRS,
    FLAG_ERROR,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    make_batch,
)
from hal.can.log_files import read_can_log, write_can_log
from hal.errors import HalError, LogFileError
from tests.conftest import TEST_DATA

PYTHON_CAN = TEST_DATA / "python_can"


def test_a_real_log_reads_with_every_kind_of_frame() -> None:
    # Vector's ASC sample: classic, extended, FD, remote and error frames, and one remote
    # frame python-can reads with a DLC above 8 (no controller could send it).
    log = read_can_log(PYTHON_CAN / "logfile.asc")
    assert len(log) == 20
    assert log.unsendable == 1
    flags = log.frames["flags"][log.sendable]
    assert {int(f) for f in flags} == {
        0,
        FLAG_EXTENDED,
        FLAG_FD,
        FLAG_FD | FLAG_BRS,
        FLAG_ERROR,
        FLAG_REMOTE,
    }
    remote = log.frames[log.sendable & ((log.frames["flags"] & FLAG_REMOTE) != 0)]
    assert not remote["data"].any()
    assert np.all(np.diff(log.frames["timestamp"]) >= 0)  # file order, logged times


def test_frames_no_controller_can_send_are_kept_as_timestamps_only() -> None:
    # python-can's synthetic BLF frames: standard id 0x4444444, DLC 51.
    log = read_can_log(PYTHON_CAN / "test_CanMessage.blf")
    assert (len(log), log.unsendable) == (2, 2)
    assert log.frames["timestamp"].all()
    assert not log.frames["arbitration_id"].any()


@pytest.mark.parametrize("suffix", [".log", ".asc", ".blf"])
def test_written_frames_read_back_the_same(tmp_path: Path, suffix: str) -> None:
    frames = make_batch(
        [
            (1_700_000_000.0, 0x123, b"\x01\x02"),
            (1_700_000_000.5, 0x18FEF100, bytes(range(8))),
            (1_700_000_001.0, 0x7FF, b""),
        ]
    )
    path = tmp_path / f"drive{suffix}"
    assert write_can_log(path, frames) == 3
    log = read_can_log(path)
    assert log.sendable.all()
    got = log.frames
    assert got["arbitration_id"].tolist() == [0x123, 0x18FEF100, 0x7FF]
    assert got["flags"].tolist() == [0, FLAG_EXTENDED, 0]
    assert got["dlc"].tolist() == [2, 8, 0]
    assert bytes(got["data"][1][:8]) == bytes(range(8))
    offsets = got["timestamp"] - got["timestamp"][0]  # ASC keeps times relative
    assert offsets.tolist() == pytest.approx([0.0, 0.5, 1.0], abs=1e-5)


def test_fd_and_remote_frames_read_back_with_their_flags(tmp_path: Path) -> None:
    frames = make_batch(
        [
            (1.0, 0x10, bytes(range(12)), FLAG_FD | FLAG_BRS),
            (2.0, 0x11, b"", FLAG_REMOTE),
        ]
    )
    frames["dlc"][1] = 5  # a remote request for 5 bytes
    path = tmp_path / "mixed.blf"
    write_can_log(path, frames)
    got = read_can_log(path).frames
    assert got["flags"].tolist() == [FLAG_FD | FLAG_BRS, FLAG_REMOTE]
    assert got["dlc"].tolist() == [12, 5]
    assert bytes(got["data"][0][:12]) == bytes(range(12))


def test_missing_and_unknown_files_are_log_file_errors(tmp_path: Path) -> None:
    with pytest.raises(LogFileError, match=r"missing\.log"):
        read_can_log(tmp_path / "missing.log")
    with pytest.raises(LogFileError, match=r"SOURCES\.md"):  # a suffix no reader has
        read_can_log(PYTHON_CAN / "SOURCES.md")
    with pytest.raises(ValueError, match="xyz"):
        write_can_log(tmp_path / "frames.xyz", make_batch([(0.0, 1, b"")]))
    assert issubclass(LogFileError, HalError)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=2000), suffix=st.sampled_from([".log", ".asc", ".blf", ".trc"]))
def test_any_bytes_as_a_log_read_or_fail_as_log_file_error(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"fuzz{suffix}"
        path.write_bytes(raw)
        try:
            log = read_can_log(path)
        except LogFileError:
            return
    assert len(log.sendable) == len(log.frames) == len(log)
    assert (log.frames["dlc"] <= 64).all()
