"""``roadgate config check`` over many files (issue 14, item 9): box and bridge configs told
apart by their content, every file reported, templates named as such, exit 1 on any error."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from firmware_py.config.file_kind import ConfigKind, config_kind, placeholders
from firmware_py.config.loader import EXAMPLES_DIR
from firmware_py.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HIL_CONFIGS = PROJECT_ROOT / "hil" / "scenarios" / "configs"


def check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware_py.cli", "config", "check", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=False,
    )


def test_every_shipped_example_is_checked_by_its_kind() -> None:
    examples = sorted(EXAMPLES_DIR.glob("*.toml"))
    done = check(*examples)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"{EXAMPLES_DIR / 'bridge.toml'}: ok (bridge config)" in lines
    assert f"{EXAMPLES_DIR / 'roadside.toml'}: ok (box config)" in lines
    assert f"{EXAMPLES_DIR / 'intersection-101.toml'}: ok (intersection description)" in lines
    assert lines[-1] == f"{len(examples)} of {len(examples)} files passed"


def test_a_bad_file_is_reported_and_the_rest_still_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[device]\nid = "x"\n')
    neither = tmp_path / "neither.toml"
    neither.write_text("[mqtt]\nhost = 'h'\n")
    done = check(bad, EXAMPLES_DIR / "bridge.toml", neither, EXAMPLES_DIR / "roadside.toml")
    assert done.stdout.splitlines() == [
        f"{EXAMPLES_DIR / 'bridge.toml'}: ok (bridge config)",
        f"{EXAMPLES_DIR / 'roadside.toml'}: ok (box config)",
        "2 of 4 files passed",
    ]
    errors = done.stderr.splitlines()
    assert len(errors) == 2, done.stderr
    assert errors[0].startswith(f"roadgate: error: {bad}: ")
    assert errors[1] == (
        f"roadgate: error: {neither}: neither a box config (a [device] table) nor a bridge "
        "config (a [bridge] table)"
    )
    assert done.returncode == 2


def test_a_password_with_a_dollar_is_no_placeholder(tmp_path: Path) -> None:
    text = (
        (EXAMPLES_DIR / "bridge.toml")
        .read_text()
        .replace(
            'client_id = "roadgate-bridge"', 'client_id = "roadgate-bridge"\npassword = "pa$word"'
        )
    )
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    assert config_kind(path) is ConfigKind.BRIDGE


def test_hil_templates_say_they_are_templates() -> None:
    template = HIL_CONFIGS / "roadside-one-radar.toml"
    done = check(template)
    assert done.stdout.splitlines() == [
        f"{template}: template with placeholders $mqtt_host, $mqtt_port: fill them in to check it"
    ]
    assert done.returncode == 0


def test_placeholders_in_comments_do_not_count() -> None:
    assert placeholders('# the bench fills in $mqtt_host\nhost = "h"  # not $here\n') == []
    assert placeholders('host = "$mqtt_host"\nport = ${mqtt_port}\nx = "$mqtt_host"\n') == [
        "mqtt_host",
        "mqtt_port",
    ]
    assert placeholders('note = "a # in a string, then $after"\n') == ["after"]


@given(st.binary(max_size=300))
def test_any_file_is_a_kind_or_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "any.toml"
        path.write_bytes(data)
        message = ""
        try:
            kind: ConfigKind | None = config_kind(path)
        except ConfigError as err:
            kind, message = None, str(err)
        assert isinstance(kind, ConfigKind) or message.startswith(f"{path}: ")


@given(st.text(max_size=200))
def test_placeholders_never_raise(text: str) -> None:
    for name in placeholders(text):
        assert f"${name}" in text or f"${{{name}}}" in text


def test_the_summary_counts_templates_apart() -> None:
    done = check(HIL_CONFIGS / "vehicle-toyota.toml", EXAMPLES_DIR / "bridge.toml")
    assert done.stdout.splitlines()[-1] == "1 of 2 files passed, 1 templates not checked"
    assert done.returncode == 0
