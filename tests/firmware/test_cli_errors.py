"""Errors a user can cause end as one clear line and exit status 2, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_py.cli import main
from firmware_py.config.loader import EXAMPLES_DIR


def real_hardware_config(tmp_path: Path) -> Path:
    text = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
    text = text.replace('interface = "virtual"', 'interface = "socketcan"')
    text = text.replace('channel = "veh-001-powertrain"', 'channel = "rg-no-such-can9"')
    text = text.replace('port = "simulated"', 'port = "/dev/rg-no-such-gnss"')
    text = text.split("\n[simulation]")[0]
    text += f'\n[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
    path = tmp_path / "real.toml"
    path.write_text(text)
    return path


def test_missing_can_hardware_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(real_hardware_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roadgate: error: CAN port 'powertrain'")
    assert "Traceback" not in err


def test_an_invalid_config_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "box.toml"
    path.write_text('[device]\nid = "x"\nregion = "r"\nrole = "car"\n')
    assert main(["config", "check", str(path)]) == 2
    assert "device.role = 'car' is invalid" in capsys.readouterr().err
