"""``roadgate bench decode``: every signal read is the headline, and the ARS408 object-list
mix (``--mix ars408-objects``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_py.benchmarks.decode import (
    DEFAULT_DBC,
    OBJECTS,
    decode_burst,
    format_result,
    frame_mix,
    object_list_mix,
    read_every_signal,
    run_decode_bench,
    socketcan_burst,
)
from firmware_py.cli import main
from firmware_py.errors import FirmwareError
from protocols.dbc import VectorDecoder, load_dbc
from protocols.radar.ars408 import ARS408_DBC, EXTENDED, GENERAL, QUALITY, STATUS

ARS408 = load_dbc(ARS408_DBC).database
TOYOTA = load_dbc(DEFAULT_DBC).database


def test_object_list_mix_is_status_then_each_objects_three_messages() -> None:
    mix = object_list_mix(ARS408, 3 * (1 + 3 * OBJECTS) + 5)
    assert mix.messages == (STATUS, GENERAL, QUALITY, EXTENDED)
    names = [ARS408.get_message_by_frame_id(frame_id).name for _, frame_id, _ in mix.frames]
    cycle = [STATUS] + [GENERAL] * OBJECTS + [QUALITY] * OBJECTS + [EXTENDED] * OBJECTS
    assert names == cycle * 3 + cycle[:5]
    for _, frame_id, data in mix.frames[:200]:
        ARS408.decode_message(frame_id, data)  # cantools decodes every payload
    assert f"{OBJECTS} objects" in mix.weighting


def test_object_list_mix_needs_the_ars408_messages() -> None:
    with pytest.raises(FirmwareError, match="no Obj_0_Status"):
        object_list_mix(TOYOTA, 10)


def test_read_every_signal_reads_each_value_once() -> None:
    frames = frame_mix(TOYOTA, 700, seed=4).frames
    decoded = decode_burst(VectorDecoder(TOYOTA), socketcan_burst(frames))
    want = sum(len(TOYOTA.get_message_by_frame_id(frame_id).signals) for _, frame_id, _ in frames)
    assert read_every_signal(decoded) == want


def test_the_object_list_bench_times_every_signal_read() -> None:
    result = run_decode_bench(frames=1200, mix="ars408-objects", batch=500)
    assert result.dbc == ARS408_DBC.name
    assert result.checked == 500
    assert result.ratio == pytest.approx(result.ours / result.peer)
    assert result.ours > 0
    assert result.ours_lookup > 0
    # The parse alone is part of the decode, which is part of reading every signal.
    assert result.ours_parse > result.ours_lookup > 0
    assert result.one_batch is not None
    record = result.as_json()
    assert record["ours_all_signals"] == record["ours"]
    assert record["compiled"] is True  # the kernels are built in the test environment
    text = format_result(result)
    assert "every signal read" in text
    assert "; compiled kernels)" in text
    assert "object lists of 40 objects" in text
    assert "per burst of 500 frames: reader's parse" in text


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="mix"):
        run_decode_bench(frames=10, mix="nope")
    with pytest.raises(FirmwareError, match="no Obj_0_Status"):
        run_decode_bench(DEFAULT_DBC, frames=10, mix="ars408-objects")


def test_cli_runs_the_object_list_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "decode.json"
    argv = ["bench", "decode", "--mix", "ars408-objects", "--frames", "300", "--json", str(path)]
    assert main(argv) == 0
    record = json.loads(path.read_text())
    assert record["dbc"] == ARS408_DBC.name
    assert record["frames"] == 300
    out = capsys.readouterr().out
    assert "4 messages (object lists of 40 objects mix)" in out
    assert "checked: 300 frames decode to the same values" in out
    with pytest.raises(SystemExit):
        main(["bench", "decode", "--mix", "nope"])
