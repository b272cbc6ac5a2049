"""The flight recorder: one time-indexed, append-only log of everything a box saw.

The log is MCAP (https://mcap.dev), written and read with the ``mcap`` library. Each file
starts with MCAP's magic and a Header (profile ``roadgate``), and holds zstd-compressed
Chunks, each closed and written at least every second, with its MessageIndex records, so a
killed recorder loses at most the last second and the file reads up to where it stopped. A
file closed normally ends with MCAP's summary (statistics, chunk index) and Footer.

Channels (MCAP channel topic, message encoding, what one message is):

* ``can/{bus}``, ``roadgate.can-batch.v1``: a batch of frames of one bus as the port read
  them: 2 header bytes (format version 1, data width W: 8 when every frame is classic, else
  64), then packed little-endian records: ``timestamp`` float64 (s since the Unix epoch, the
  kernel's receive time, as ``hal.can.frames.FRAME_DTYPE`` holds it), ``arbitration_id``
  uint32, ``flags`` uint8 (``hal.can.frames`` FLAG_* bits), ``dlc`` uint8 (payload length in
  bytes), ``data`` W bytes (the first ``dlc`` are the payload). 14 + W bytes a frame.
* ``serial/{port}``, ``roadgate.line.v1``: one line as read, without CR/LF.
* ``v2x/rx/{port}`` and ``v2x/tx/{port}``, ``roadgate.datagram.v1``: one datagram's payload
  heard from, or handed to, the C-V2X radio.
* ``spat/{port}``, ``roadgate.datagram.v1``: one datagram from the signal controller.
* ``envelope/{mqtt topic}``, ``protobuf``: one published ``roadgate.v1.Envelope``, exactly
  the bytes handed to MQTT; its schema (encoding ``protobuf``) is the FileDescriptorSet of
  ``protocols/schema/v1/roadgate.proto``, so generic MCAP tools decode it.
* ``mqtt/in/{client}``, ``roadgate.mqtt-message.v1``: one MQTT message the box received
  (``client``: its subscriber, ``state-feed``), before checking it: 1 byte version (1),
  ``uint16`` little-endian topic length, the topic in UTF-8, then the payload to the end.

Every channel's metadata has ``kind`` (``can``, ``serial``, ``v2x-rx``, ``v2x-tx``, ``spat``,
``envelope``, ``mqtt-in``) and ``source`` (the bus, port, MQTT topic or subscriber). A message's
``log_time`` is its receive (or send) time in ns since the Unix epoch; for a CAN batch it is the
first frame's time and ``publish_time`` the last frame's, so a batch covers [log_time,
publish_time]; for every other message ``publish_time`` equals ``log_time``. ``sequence`` counts
the channel's messages in the file from 0.

Each channel record is also written outside the chunks, so a damaged chunk loses only its
own messages. Files are named ``{prefix}-{UTC start}Z-{n}.mcap``.

Modules: ``log_format`` (channel names, payload codecs; no I/O), ``writer``
(``FlightRecorder``: rotation by size and age, bounded total, never raises on a full disk),
``reader`` (reads damaged logs up to and past the damage, counting what it skipped; items in
time order for a replayer), ``summary`` (span, counts, gaps), ``window`` (cuts around an
event), ``cut`` (a window of logs as a log of its own, for ``roadgate export`` and uploads),
``instant`` (times as people write them), ``upload_request`` and ``upload`` (the ``record
upload`` command: a cut sent as chunks through the uplink), ``sink`` (the role pipelines
receive), ``switch`` (the recorder a box runs, started and stopped by the ``record`` command),
``recorded_link`` (the radio's link, recording what it hears and sends), ``errors``.
"""
