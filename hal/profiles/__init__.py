"""Board profiles: what a user sets up so a CAN HAT or GNSS receiver appears as RoadGate expects.

Each ``<name>.toml`` here is one profile (see README.md); ``load_profile(name)`` parses it into a
frozen ``BoardProfile`` and rejects a bad file naming the key, the value and what is valid.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).resolve().parent
CONFIG_TXT_PREFIXES = ("dtoverlay=", "dtparam=", "enable_uart=")
CONNECTIONS = ("uart", "usb")


class ProfileError(ValueError):
    """A profile is missing or invalid; the message names the file, key and value."""


@dataclass(frozen=True)
class CanProfile:
    """One CAN interface of a HAT: controller, clock, interrupt pin and ``ip link`` setup."""

    interface: str
    controller: str
    oscillator_hz: int
    interrupt_gpio: int
    bitrate: int
    fd: bool
    setup: tuple[str, ...]
    data_bitrate: int | None = None


@dataclass(frozen=True)
class GnssProfile:
    """A GNSS receiver's serial connection: device name (udev), optional by-id path, baud."""

    receiver: str
    connection: str
    device: str
    baudrate: int
    by_id: str | None = None


@dataclass(frozen=True)
class BoardProfile:
    """One profile: ``config_txt`` lines for the Pi's config.txt, udev rules, and the CAN
    interfaces and GNSS receivers it provides."""

    name: str
    description: str
    boards: tuple[str, ...]
    config_txt: tuple[str, ...]
    udev_rules: tuple[str, ...]
    notes: str
    can: tuple[CanProfile, ...]
    gnss: tuple[GnssProfile, ...]


def profile_names() -> list[str]:
    """The names of the shipped profiles, sorted."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.toml"))


def load_profile(name: str, directory: Path = PROFILE_DIR) -> BoardProfile:
    """Load ``<directory>/<name>.toml``.

    Raises ``ProfileError`` (a ``ValueError``) for an unknown name, TOML syntax errors, and
    missing, mistyped or inconsistent keys.
    """
    path = directory / f"{name}.toml"
    if "/" in name or not path.is_file():
        raise ProfileError(f"no board profile {name!r}; shipped: {', '.join(profile_names())}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{path}: {err}") from err
    table = _Table(raw, str(path))
    profile = BoardProfile(
        name=table.text("name"),
        description=table.text("description"),
        boards=table.texts("boards"),
        config_txt=table.texts("config_txt"),
        udev_rules=table.texts("udev_rules"),
        notes=table.text("notes", allow_empty=True).strip(),
        can=tuple(_can(t) for t in table.tables("can")),
        gnss=tuple(_gnss(t) for t in table.tables("gnss")),
    )
    if profile.name != name:
        raise ProfileError(f"{path}: name = {profile.name!r}, expected the file's name {name!r}")
    for line in profile.config_txt:
        if not line.startswith(CONFIG_TXT_PREFIXES):
            raise ProfileError(
                f"{path}: config_txt line {line!r} must start with one of "
                f"{', '.join(CONFIG_TXT_PREFIXES)}"
            )
    if not profile.can and not profile.gnss:
        raise ProfileError(f"{path}: a profile needs at least one [[can]] or [[gnss]] table")
    return profile


def _can(table: _Table) -> CanProfile:
    can = CanProfile(
        interface=table.text("interface"),
        controller=table.text("controller"),
        oscillator_hz=table.positive("oscillator_hz"),
        interrupt_gpio=table.integer("interrupt_gpio"),
        bitrate=table.positive("bitrate"),
        fd=table.flag("fd"),
        setup=table.texts("setup"),
        data_bitrate=table.positive("data_bitrate") if "data_bitrate" in table.raw else None,
    )
    up = next(
        (line for line in can.setup if line.startswith(f"ip link set {can.interface} up")), None
    )
    if up is None or f" bitrate {can.bitrate} " not in f"{up} ":
        raise ProfileError(
            f"{table.where}: setup must bring {can.interface} up with "
            f"'bitrate {can.bitrate}', got {list(can.setup)}"
        )
    if can.fd != (can.data_bitrate is not None) or (
        can.fd and f" dbitrate {can.data_bitrate} " not in f"{up} "
    ):
        raise ProfileError(
            f"{table.where}: fd = {can.fd} needs data_bitrate and "
            f"'dbitrate <data_bitrate>' in setup (and neither without fd)"
        )
    return can


def _gnss(table: _Table) -> GnssProfile:
    gnss = GnssProfile(
        receiver=table.text("receiver"),
        connection=table.text("connection"),
        device=table.text("device"),
        baudrate=table.positive("baudrate"),
        by_id=table.text("by_id") if "by_id" in table.raw else None,
    )
    if gnss.connection not in CONNECTIONS:
        raise ProfileError(
            f"{table.where}: connection = {gnss.connection!r}, valid: {', '.join(CONNECTIONS)}"
        )
    return gnss


class _Table:
    """Typed access to one TOML table; errors name the file, table and key."""

    def __init__(self, raw: dict[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def _get(self, key: str, kind: type | tuple[type, ...], valid: str) -> Any:
        if key not in self.raw:
            raise ProfileError(f"{self.where}: missing key {key!r} ({valid})")
        value = self.raw[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProfileError(f"{self.where}: {key} = {value!r} is not {valid}")
        return value

    def text(self, key: str, *, allow_empty: bool = False) -> str:
        value: str = self._get(key, str, "a string")
        if not value.strip() and not allow_empty:
            raise ProfileError(f"{self.where}: {key} must not be empty")
        return value

    def integer(self, key: str) -> int:
        value: int = self._get(key, int, "an integer")
        return value

    def positive(self, key: str) -> int:
        value = self.integer(key)
        if value <= 0:
            raise ProfileError(f"{self.where}: {key} = {value} is not a positive integer")
        return value

    def flag(self, key: str) -> bool:
        value: bool = self._get(key, bool, "true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        values: list[Any] = self._get(key, list, "a list of strings")
        if not all(isinstance(v, str) for v in values):
            raise ProfileError(f"{self.where}: {key} = {values!r} is not a list of strings")
        return tuple(values)

    def tables(self, key: str) -> list[_Table]:
        if key not in self.raw:
            return []
        values: list[Any] = self._get(key, list, f"an array of [[{key}]] tables")
        if not all(isinstance(v, dict) for v in values):
            raise ProfileError(f"{self.where}: {key} must be [[{key}]] tables")
        return [_Table(v, f"{self.where} [[{key}]] #{i + 1}") for i, v in enumerate(values)]
