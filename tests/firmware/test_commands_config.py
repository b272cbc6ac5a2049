"""``[commands]``: trusted keys inline (base64) or from PEM files, checked at load."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_py.config.commands import CommandsConfig
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.errors import ConfigError

PUBLIC = Ed25519PrivateKey.generate().public_key()
RAW = PUBLIC.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def config_with(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "box.toml"
    path.write_text((EXAMPLES_DIR / "vehicle-toyota.toml").read_text() + table)
    return path


def test_without_the_table_no_commands_are_taken(tmp_path: Path) -> None:
    commands = load_box_config(config_with(tmp_path, "")).commands
    assert commands == CommandsConfig()
    assert not commands.enabled


def test_keys_inline_and_from_pem_files(tmp_path: Path) -> None:
    pem = PUBLIC.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "op.pub").write_bytes(pem)
    inline = base64.b64encode(RAW).decode()
    table = (
        f'\n[commands]\ntrusted_keys = ["{inline}", "keys/op.pub"]\n'
        f'state_dir = "state"\nmax_lifetime_s = 60\nconfig_deadline_s = 30\n'
    )
    commands = load_box_config(config_with(tmp_path, table)).commands
    assert commands == CommandsConfig((RAW, RAW), tmp_path / "state", 60.0, 30.0)
    assert commands.enabled


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('trusted_keys = ["bm90IGEga2V5"]', "commands.trusted_keys"),
        ('trusted_keys = ["missing.pem"]', "neither PEM nor base64"),
        ("trusted_keys = 3", "array of strings"),
        ("max_lifetime_s = 0", "commands.max_lifetime_s"),
        ("keys = []", "unknown key 'commands.keys'"),
    ],
)
def test_bad_commands_tables_are_refused(tmp_path: Path, table: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_box_config(config_with(tmp_path, f"\n[commands]\n{table}\n"))
