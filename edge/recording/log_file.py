"""One flight log file being written: MCAP's writer plus our channels, on an open stream.

Errors of the stream (``OSError``, ``ValueError`` once closed) pass through: the recorder
decides what a failing disk means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import BinaryIO

from mcap.data_stream import RecordBuilder
from mcap.records import Channel
from mcap.writer import CompressionType, Writer

from edge.recording.log_format import (
    ENVELOPE_SCHEMA_NAME,
    LIBRARY,
    PROFILE,
    ChannelSpec,
    Kind,
    envelope_schema,
)

METADATA_NAME = "roadgate.recording"


class LogFile:
    """Writes messages to ``stream`` as one MCAP flight log; ``finish()`` ends it (summary,
    footer) and closes the stream."""

    def __init__(
        self, stream: BinaryIO, chunk_bytes: int, metadata: Mapping[str, str] | None = None
    ) -> None:
        self.stream = stream
        self._writer = Writer(stream, chunk_size=chunk_bytes, compression=CompressionType.ZSTD)
        self._channels: dict[ChannelSpec, int] = {}
        self._sequences: Counter[int] = Counter()
        self._envelope_schema_id = 0
        self._writer.start(profile=PROFILE, library=LIBRARY)
        if metadata:
            self._writer.add_metadata(METADATA_NAME, dict(metadata))
        stream.flush()

    def add(self, spec: ChannelSpec, data: bytes, log_time: int, publish_time: int) -> None:
        """Add one message to the chunk being filled (written when full or at ``flush``)."""
        channel_id = self._channels.get(spec) or self._register(spec)
        sequence = self._sequences[channel_id]
        self._sequences[channel_id] = sequence + 1
        self._writer.add_message(channel_id, log_time, data, publish_time, sequence & 0xFFFF_FFFF)

    def flush(self) -> int:
        """Write the chunk being filled and flush the stream; returns the file's size."""
        self._writer.flush()  # type: ignore[no-untyped-call]
        return self.stream.tell()

    def finish(self) -> None:
        """Write the summary and footer, and close the stream."""
        self._writer.finish()  # type: ignore[no-untyped-call]
        self.stream.close()

    def _register(self, spec: ChannelSpec) -> int:
        schema_id = 0
        if spec.kind is Kind.ENVELOPE:
            if not self._envelope_schema_id:
                self._envelope_schema_id = self._writer.register_schema(
                    ENVELOPE_SCHEMA_NAME, "protobuf", envelope_schema()
                )
            schema_id = self._envelope_schema_id
        channel_id: int = self._writer.register_channel(
            spec.topic, spec.encoding, schema_id, spec.metadata
        )
        # mcap's writer puts the channel into the chunk being filled; a copy outside any chunk
        # keeps the file's later chunks readable when that one chunk is damaged.
        builder = RecordBuilder()
        Channel(channel_id, spec.topic, spec.encoding, spec.metadata, schema_id).write(builder)
        self.stream.write(builder.end())  # type: ignore[no-untyped-call]
        self._channels[spec] = channel_id
        return channel_id
