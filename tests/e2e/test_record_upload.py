"""``record upload`` end to end (issue 18, item 4): a simulated vehicle gateway with
``[recorder]`` and a bridge, each its own process, over a private Mosquitto. A signed ``record
upload`` makes the box cut a window of its own flight log and send it as chunks through its
outbox; the bridge stores them as any message; ``roadgate bridge recording`` writes the cut
back out of the store, and it holds the same messages as ``roadgate export --to mcap`` makes
of the box's log for the same window: a time window, and 2 s around an event the box published
(a clock fault, made to happen by a clock bound of 1 us). Bad arguments and an unknown event are
refused, saying why; the chunks themselves are not recorded into the log they were cut from."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from edge.recording.reader import ReadReport, read_logs
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.e2e.test_pipeline_end_to_end import roadgate, wait_for_line
from tests.e2e.test_record_command import last_line, start_box, stop_box
from tests.e2e.test_remote_commands import cli, keygen, send
from tests.edge.recording.sample_log import Key, key_of
from tests.support.mosquitto import Broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]

RECORD_S = 5.0
EVENT_S = 2.0
ACK = re.compile(r"^DONE: capture (\S+): (\d+) chunks, (\d+) bytes, (\d+) messages from ")


def messages(path: Path) -> tuple[list[Key], ReadReport]:
    reports: list[ReadReport] = []
    keys = [key_of(item) for item in read_logs([path], reports)]
    return keys, reports[0]


def fetch(config: Path, capture: str, out: Path) -> subprocess.CompletedProcess[str]:
    return cli(
        "bridge", "recording", "--config", str(config), "--device", "veh-001",
        "--capture", capture, "-o", str(out),
    )  # fmt: skip


def clock_fault(store: Path, within_s: float) -> tuple[str, float]:
    """The first event the box published that the bridge stored: its id and capture time."""
    deadline = time.monotonic() + within_s
    while True:
        if store.exists():
            with closing(sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)) as db:
                row = db.execute(
                    "SELECT payload FROM messages WHERE stream = 'events' ORDER BY sequence"
                ).fetchone()
            if row is not None:
                envelope = pb.Envelope.FromString(row[0])
                return envelope.event.event_id, envelope.capture_time_ns / 1e9
        assert time.monotonic() < deadline, "no event stored"
        time.sleep(0.2)


class Cloud:
    """Signed commands to the box and cuts out of the bridge's store."""

    def __init__(self, mosquitto: Broker, key: Path, bridge_conf: Path, tmp_path: Path) -> None:
        self.mosquitto, self.key, self.bridge_conf, self.tmp_path = (
            mosquitto,
            key,
            bridge_conf,
            tmp_path,
        )

    def upload(self, *arguments: str) -> tuple[str, int, int, Path]:
        """``record upload`` with ``arguments`` (``--arg k=v``...): the capture id, its
        messages and bytes, and the file ``roadgate bridge recording`` wrote once the store
        had every chunk."""
        done = send(self.mosquitto, self.key, "record", "--action", "upload", *arguments)
        assert done.returncode == 0, done
        found = ACK.match(last_line(done))
        assert found is not None, done.stdout
        capture, chunks, size, count = found[1], *map(int, found.groups()[1:])
        out = self.tmp_path / f"{capture}.mcap"
        # The chunks travel behind the live streams: wait until the store has them all.
        deadline = time.monotonic() + 60
        while (got := fetch(self.bridge_conf, capture, out)).returncode != 0:
            assert time.monotonic() < deadline, got.stderr
            time.sleep(0.5)
        assert f"capture {capture}: {chunks} of {chunks} chunks, {size} bytes" in got.stdout
        return capture, count, size, out


def test_an_uploaded_cut_comes_out_of_the_cloud_as_the_box_cut_it(
    tmp_path: Path, mosquitto: Broker
) -> None:
    key = tmp_path / "operator"
    trusted = keygen(key)
    store = tmp_path / "bridge.sqlite3"
    bridge_conf = tmp_path / "bridge.toml"
    bridge_conf.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nclient_id = "upload-bridge"\n'
        f'[bridge]\nstore = "{store}"\n'
    )
    bridge_log = tmp_path / "bridge.log"
    bridge = roadgate("bridge", "--config", str(bridge_conf), log=bridge_log)
    flight = tmp_path / "flight"
    cloud = Cloud(mosquitto, key, bridge_conf, tmp_path)
    try:
        wait_for_line(bridge_log, "subscribed to rg/v1/+/+/+", bridge, timeout=30)
        # A clock bound of 1 us: the box's first GNSS fixes make it publish a clock fault,
        # the event the engineer asks for.
        extra = (
            f'[recorder]\nenabled = true\ndirectory = "{flight}"\n'
            "[clock]\ngnss_disagreement_bound_ms = 0.001\n"
        )
        box, box_log = start_box(tmp_path, mosquitto, trusted, extra)
        try:
            time.sleep(RECORD_S)
            # A window that ended a second ago: everything in it is on the box's disk.
            end = time.time() - 1.0
            start = end - 3.0
            window = ["--arg", f"from={start:.6f}", "--arg", f"to={end:.6f}"]
            _, window_count, window_size, window_cut = cloud.upload(*window)
            event_id, event_at = clock_fault(store, within_s=20)
            time.sleep(max(0.0, event_at + EVENT_S + 1.0 - time.time()))
            around = ["--arg", f"event_id={event_id}", "--arg", f"seconds={EVENT_S:g}"]
            _, event_count, event_size, event_cut = cloud.upload(*around)
            refused = send(mosquitto, key, "record", "--action", "upload")
            assert refused.returncode == 1
            assert last_line(refused) == (
                "REJECTED: bad_arguments: record upload needs event_id, or from and to"
            )
            unknown = send(
                mosquitto, key, "record", "--action", "upload", "--arg", "event_id=ev-none"
            )
            assert unknown.returncode == 1
            assert last_line(unknown) == (
                "FAILED: event 'ev-none' is not in the events stream of the logs"
            )
        finally:
            stop_box(box)
    finally:
        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(timeout=30) == 0, bridge_log.read_text()
    assert "Traceback" not in box_log.read_text()
    logged = {item.channel.source for item in read_logs(sorted(flight.glob("*.mcap")))}
    assert "rg/v1/xian-gaoxin/veh-001/events" in logged
    assert not [source for source in logged if source.endswith("/recording")]
    # The same windows cut from the box's own log after the fact.
    for cut, count, size, export_window in [
        (window_cut, window_count, window_size, ["--start", f"{start:.6f}", "--end", f"{end:.6f}"]),
        (event_cut, event_count, event_size, ["--around", event_id, "--seconds", f"{EVENT_S:g}"]),
    ]:
        expected = tmp_path / "expected.mcap"
        export = cli("export", str(flight), "--to", "mcap", "-o", str(expected), *export_window)
        assert export.returncode == 0, export.stderr
        got_keys, got_report = messages(cut)
        want_keys, _ = messages(expected)
        assert got_report.complete
        assert not got_report.damaged
        assert count > 50  # CAN batches, GNSS lines and envelopes
        assert len(got_keys) == count
        assert got_keys == want_keys
        assert cut.stat().st_size == size
