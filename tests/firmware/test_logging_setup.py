"""Log formats: JSON lines that parse one record each, journald lines with syslog priorities,
and the ``[logging]`` table."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_py.config.metrics import LoggingConfig, parse_observability
from firmware_py.config.reader import Table
from firmware_py.errors import ConfigError
from firmware_py.logging_setup import configure_logging, formatter, syslog_priority


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def logged(log_format: str, emit: object, level: str = "debug") -> str:
    stream = io.StringIO()
    configure_logging(log_format, level, device="veh-001", stream=stream, force=True)
    assert callable(emit)
    emit(logging.getLogger("edge.test"))
    return stream.getvalue()


def test_json_lines_carry_one_record_each_with_its_fields() -> None:
    def emit(log: logging.Logger) -> None:
        log.info("bus %s is %s", "powertrain", "error-passive")
        log.warning("two\nlines")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")

    lines = logged("json", emit).splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert records[0]["message"] == "bus powertrain is error-passive"
    assert records[0]["level"] == "INFO"
    assert records[0]["logger"] == "edge.test"
    assert records[0]["device"] == "veh-001"
    assert datetime.fromisoformat(records[0]["time"]).utcoffset() is not None
    assert records[1]["message"] == "two\nlines"
    assert records[2]["level"] == "ERROR"
    assert "RuntimeError: boom" in records[2]["exception"]


def test_a_records_own_device_wins_over_the_boxs() -> None:
    def emit(log: logging.Logger) -> None:
        log.info("from the bridge", extra={"device": "rsu-7"})

    assert json.loads(logged("json", emit))["device"] == "rsu-7"


@given(st.text())
def test_any_message_is_one_json_line_that_gives_it_back(message: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json", "veh-001"))
    record = logging.LogRecord("edge.test", logging.INFO, __file__, 1, message, None, None)
    handler.emit(record)
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert json.loads(text)["message"] == message


def test_journald_lines_start_with_the_syslog_priority_and_no_timestamp() -> None:
    def emit(log: logging.Logger) -> None:
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")

    lines = logged("journald", emit).splitlines()
    assert lines == [
        "<7>edge.test: d",
        "<6>edge.test: i",
        "<4>edge.test: w",
        "<3>edge.test: e",
        "<2>edge.test: c",
    ]


def test_journald_prefixes_every_line_of_a_traceback() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed\nbadly")

    lines = logged("journald", emit).splitlines()
    assert len(lines) > 3
    assert all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: bad"


@pytest.mark.parametrize(
    ("level", "priority"),
    [(logging.DEBUG, 7), (15, 7), (logging.INFO, 6), (25, 6), (logging.WARNING, 4), (45, 3)],
)
def test_levels_between_the_standard_ones_take_the_one_below(level: int, priority: int) -> None:
    assert syslog_priority(level) == priority


def test_text_has_time_level_and_logger_and_the_level_filters() -> None:
    def emit(log: logging.Logger) -> None:
        log.debug("hidden")
        log.warning("shown")

    lines = logged("text", emit, level="info").splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING edge\.test: shown", lines[0])


def test_logging_set_up_by_someone_else_is_left_alone_unless_forced() -> None:
    root = logging.getLogger()
    theirs = logging.StreamHandler(io.StringIO())
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(theirs)
    assert configure_logging("json") is None
    assert root.handlers == [theirs]
    ours = configure_logging("json", force=True)
    assert root.handlers == [ours]
    again = configure_logging("journald")  # its own handler it replaces
    assert again is not None
    assert root.handlers == [again]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="syslog"):
        formatter("syslog")


def test_logging_table_defaults_and_values() -> None:
    assert parse_observability(Table.document({}, "box.toml")).logging == LoggingConfig(
        "text", "info"
    )
    table = Table.document({"logging": {"format": "journald", "level": "debug"}}, "box.toml")
    assert parse_observability(table).logging == LoggingConfig("journald", "debug")


@pytest.mark.parametrize(
    "logging_table",
    [{"format": "xml"}, {"level": "loud"}, {"format": 1}, {"colour": True}],
)
def test_a_bad_logging_table_names_its_key(logging_table: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="logging"):
        parse_observability(Table.document({"logging": logging_table}, "box.toml"))
