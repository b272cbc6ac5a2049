"""DBC files with non-finite numbers are refused (or their limits dropped) at load; frames of a
length no CAN or CAN FD frame has are counted as ``bad_length`` and never decoded."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dbc import VectorDecoder, load_dbc
from protocols.errors import DbcLoadError

FRAME_LENGTHS = (*range(9), 12, 16, 20, 24, 32, 48, 64)

DBC = """VERSION ""

BU_: A

BO_ 256 SMALL: 8 A
 SG_ S1 : 0|16@1+ ({factor},{offset}) [{minimum}|{maximum}] "" A
 SG_ S2 : 16|8@1- (0.5,0) [-64|63.5] "" A

BO_ 512 WIDE: 64 A
 SG_ W1 : 0|32@1+ (1,0) [0|0] "" A
 SG_ W2 : 480|32@1+ (0.25,-3) [0|0] "" A
"""


def write(tmp_path: Path, **numbers: str) -> Path:
    values = {"factor": "1", "offset": "0", "minimum": "0", "maximum": "65535", **numbers}
    path = tmp_path / "test.dbc"
    path.write_text(DBC.format(**values), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "numbers",
    [
        {"factor": "1e999"},
        {"factor": "-1e999"},
        {"offset": "1e999"},
        {"offset": "-1e400"},
        {"factor": "1e305"},  # 65535 times it overflows
    ],
)
def test_a_signal_that_can_only_decode_to_non_finite_values_fails_the_load(
    tmp_path: Path, numbers: dict[str, str]
) -> None:
    with pytest.raises(DbcLoadError) as info:
        load_dbc(write(tmp_path, **numbers))
    assert info.value.reason == "non_finite"
    assert "message SMALL signal S1" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_non_finite_limits_are_taken_as_no_limit_and_reported(tmp_path: Path) -> None:
    loaded = load_dbc(write(tmp_path, minimum="-1e999", maximum="1e999"))
    signal = loaded.database.get_message_by_name("SMALL").get_signal_by_name("S1")
    assert (signal.minimum, signal.maximum) == (None, None)
    assert [note for note in loaded.relaxations if "S1" in note] == [
        f"{tmp_path / 'test.dbc'}: message SMALL signal S1: minimum -inf is not finite; "
        "taken as no limit",
        f"{tmp_path / 'test.dbc'}: message SMALL signal S1: maximum inf is not finite; "
        "taken as no limit",
    ]


def test_a_finite_file_loads_without_notes(tmp_path: Path) -> None:
    loaded = load_dbc(write(tmp_path, factor="1e300"))  # large, but 65535 times it is finite
    assert loaded.relaxations == ()


@pytest.fixture(scope="module")
def decoder(tmp_path_factory: pytest.TempPathFactory) -> VectorDecoder:
    return VectorDecoder(load_dbc(write(tmp_path_factory.mktemp("dbc"))).database)


@settings(max_examples=200)
@given(
    lengths=st.lists(st.integers(0, 80), min_size=1, max_size=40),
    as_batch=st.booleans(),
    dtype=st.sampled_from([np.uint8, np.int64]),
)
def test_frames_of_a_length_no_frame_has_are_counted_and_never_decoded(
    decoder: VectorDecoder, lengths: list[int], as_batch: bool, dtype: type[np.generic]
) -> None:
    n = len(lengths)
    ids = np.array([256 if i % 2 else 512 for i in range(n)], dtype=np.uint32)
    data = np.full((n, 64), 0xA5, dtype=np.uint8)
    dlc = np.array(lengths, dtype=dtype)
    before = decoder.rejects.copy()
    if as_batch and dtype is np.uint8:
        batch = np.zeros(
            n,
            dtype=[
                ("timestamp", "f8"),
                ("arbitration_id", "u4"),
                ("flags", "u1"),
                ("dlc", "u1"),
                ("data", "u1", (64,)),
            ],
        )
        batch["timestamp"], batch["arbitration_id"], batch["dlc"] = np.arange(n), ids, dlc
        batch["data"] = data
        decoded = decoder.decode_batch(batch)
    else:
        decoded = decoder.decode(ids, data, dlc, np.arange(n, dtype=np.float64))
    counts = decoder.rejects - before
    bad = [i for i, length in enumerate(lengths) if length not in FRAME_LENGTHS]
    assert counts["bad_length"] == len(bad)
    rows = sorted(i for message in decoded.values() for i in message.index.tolist())
    assert not set(rows) & set(bad)
    need = {256: 8, 512: 64}
    want = [
        i
        for i, length in enumerate(lengths)
        if length in FRAME_LENGTHS and length >= need[int(ids[i])]
    ]
    assert rows == want
    assert counts["short_frame"] == n - len(bad) - len(want)
    for message in decoded.values():
        for values in message.signals.values():
            assert np.isfinite(values).all()


def test_negative_lengths_are_bad_lengths(decoder: VectorDecoder) -> None:
    before = decoder.rejects.copy()
    decoded = decoder.decode([256, 256], np.zeros((2, 8), np.uint8), [-1, 8], [0.0, 1.0])
    assert (decoder.rejects - before) == {"bad_length": 1}
    assert decoded["SMALL"].index.tolist() == [1]
    assert math.isfinite(float(decoded["SMALL"].signals["S1"][0]))
