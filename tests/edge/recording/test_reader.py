"""Reading flight logs: every kind round trips; damaged and cut logs read up to the damage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcap.reader import make_reader

from edge.recording.errors import NotARecordingError, RecordingError
from edge.recording.reader import CanItem, LogReader, in_time_order, read_logs
from tests.edge.recording.sample_log import Sample, key_of, write_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """One real log, written once for this module (hypothesis examples share it)."""
    return write_sample(tmp_path_factory.mktemp("recording-sample"))


def chunk_offsets(data: bytes | bytearray) -> list[int]:
    """Where the log's chunk records start (opcode 6, 37 bytes before the compression)."""
    name = b"\x04\x00\x00\x00zstd"
    return [i - 37 for i in range(37, len(data)) if data[i : i + 8] == name and data[i - 37] == 6]


def read(data: bytes, tmp: Path) -> LogReader:
    path = tmp / "damaged.mcap"
    path.write_bytes(data)
    return LogReader(path)


def test_every_kind_reads_back_as_recorded(sample: Sample) -> None:
    reader = LogReader(sample.path)
    items = list(reader)
    assert {key_of(item) for item in items} == sample.keys
    assert len(items) == len(sample.keys)
    assert sum(len(item.frames) for item in items if isinstance(item, CanItem)) == sample.frames
    assert reader.report.complete
    assert not reader.report.damaged
    assert reader.report.metadata == {"device_id": "rsu-7"}


def test_generic_mcap_tools_read_the_log_with_its_index_and_schemas(sample: Sample) -> None:
    with sample.path.open("rb") as file:
        mcap = make_reader(file)
        summary = mcap.get_summary()
        assert summary is not None
        topics = {channel.topic for channel in summary.channels.values()}
        assert "can/vehicle" in topics
        assert "envelope/rg/v1/xa/rsu-7/health" in topics
        (schema,) = summary.schemas.values()
        assert (schema.name, schema.encoding) == ("roadgate.v1.Envelope", "protobuf")
        assert summary.statistics is not None
        assert summary.statistics.message_count == len(sample.keys)
        assert len(summary.chunk_indexes) >= 6  # a chunk every simulated half second


def test_a_damaged_chunk_is_skipped_and_reading_goes_on(tmp_path: Path, sample: Sample) -> None:
    data = bytearray(sample.path.read_bytes())
    first_chunk = data.index(b"zstd")  # inside the first chunk's header
    data[first_chunk + 200] ^= 0xFF  # in its compressed data
    reader = read(bytes(data), tmp_path)
    items = list(reader)
    assert reader.report.skipped_chunks == 1
    assert 0 < len(items) < len(sample.keys)
    assert {key_of(item) for item in items} <= sample.keys
    # The recorder writes each channel outside the chunks too: losing the chunk that first
    # used a channel loses that chunk's messages only.
    assert not reader.report.skipped_messages
    assert len(items) > 0.8 * len(sample.keys)
    assert any("damaged chunk" in note for note in reader.report.damage)


def test_a_broken_record_length_resumes_at_the_next_chunk(tmp_path: Path, sample: Sample) -> None:
    data = bytearray(sample.path.read_bytes())
    chunks = chunk_offsets(data)
    assert len(chunks) >= 3
    second = chunks[1]
    assert data[second] == 0x06
    data[second + 8] = 0x7F  # the chunk's length now runs past the end of the file
    reader = read(bytes(data), tmp_path)
    items = list(reader)
    assert reader.report.skipped_bytes > 0
    assert any("resumed at" in note for note in reader.report.damage)
    assert {key_of(item) for item in items} <= sample.keys
    assert len(items) > len(sample.keys) // 2


def test_a_log_cut_after_each_chunk_reads_everything_before_the_cut(
    tmp_path: Path, sample: Sample
) -> None:
    data = sample.path.read_bytes()
    chunks = chunk_offsets(data)
    seen = 0
    for cut in chunks[1:]:
        reader = read(data[:cut], tmp_path)
        count = len(list(reader))
        assert count > seen
        seen = count
        assert not reader.report.complete
        assert reader.report.skipped_bytes == 0  # cut exactly at a record boundary


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    empty = read(b"", tmp_path)
    assert list(empty) == []
    assert not empty.report.complete
    with pytest.raises(NotARecordingError):
        read(b"candump (1.0) can0 123#00\n", tmp_path)
    with pytest.raises(RecordingError, match="cannot read"):
        LogReader(tmp_path / "missing.mcap")


@given(cut=st.integers(min_value=0, max_value=1 << 30))
def test_any_truncation_reads_a_subset_without_raising(cut: int, sample: Sample) -> None:
    data = sample.path.read_bytes()
    cut %= len(data) + 1
    with tempfile.TemporaryDirectory(prefix="rg-recording-cut-") as tmp:
        reader = read(data[:cut], Path(tmp))
        keys = [key_of(item) for item in reader]
    assert set(keys) <= sample.keys
    assert len(keys) == len(set(keys))
    assert reader.report.complete == (cut >= len(data) - 8)  # the footer, then the magic


@given(
    flips=st.lists(
        st.tuples(st.integers(min_value=8, max_value=1 << 30), st.integers(1, 255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.none() | st.integers(min_value=8, max_value=1 << 30),
)
def test_byte_flips_read_a_subset_without_raising(
    flips: list[tuple[int, int]], cut: int | None, sample: Sample
) -> None:
    data = bytearray(sample.path.read_bytes())
    for position, mask in flips:
        data[8 + position % (len(data) - 8)] ^= mask
    if cut is not None:
        data = data[: 8 + cut % (len(data) - 7)]
    with tempfile.TemporaryDirectory(prefix="rg-recording-flip-") as tmp:
        reader = read(bytes(data), Path(tmp))
        found = {key_of(item)[1:] for item in reader}
    # Chunks are CRC-checked: whatever comes out was recorded (a channel's name is checked
    # only inside chunks, so a file damaged in two places may misname one).
    assert found <= {recorded[1:] for recorded in sample.keys}


@given(position=st.integers(0, 7), mask=st.integers(1, 255))
def test_a_flip_in_the_magic_is_the_one_typed_error(
    position: int, mask: int, sample: Sample
) -> None:
    data = bytearray(sample.path.read_bytes())
    data[position] ^= mask
    with (
        tempfile.TemporaryDirectory(prefix="rg-recording-magic-") as tmp,
        pytest.raises(NotARecordingError),
    ):
        read(bytes(data), Path(tmp))


def test_items_in_time_order_for_a_replayer(sample: Sample) -> None:
    items = list(read_logs([sample.path]))
    ordered = list(in_time_order(items))
    times = [item.timestamp for item in ordered]
    assert times == sorted(times)
    frames = [item for item in ordered if isinstance(item, CanItem)]
    assert all(len(item.frames) == 1 for item in frames)
    assert len(frames) == sample.frames
    assert len(ordered) - len(frames) == sum(not isinstance(item, CanItem) for item in items)
