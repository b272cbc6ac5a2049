"""Board profiles: what a user sets up so a CAN HAT or GNSS receiver appears as RoadGate expects.

Each ``<name>.toml`` here is one profile (see README.md); ``load_profile(name)`` parses it into a
frozen ``BoardProfile`` and rejects a bad file naming the key, the value and what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hal.errors import HalError
from protocols.toml_table import TomlTable

PROFILE_DIR = Path(__file__).resolve().parent
CONFIG_TXT_PREFIXES = ("dtoverlay=", "dtparam=", "enable_uart=")
CONNECTIONS = ("uart", "usb")


class ProfileError(HalError, ValueError):
    """A profile is missing or invalid; the message names the file, key and value.

    Also a ``ValueError``, as it was before it joined ``HalError``: callers catching that keep
    working."""


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
    table = _Table.read(path, "board profile")
    profile = BoardProfile(
        name=table.text("name", what="the profile's name"),
        description=_nonempty(table, "description"),
        boards=table.strings("boards"),
        config_txt=table.strings("config_txt"),
        udev_rules=table.strings("udev_rules"),
        notes=table.string("notes").strip(),
        can=tuple(_can(t) for t in table.tables("can")),
        gnss=tuple(_gnss(t) for t in table.tables("gnss")),
    )
    table.reject_unknown()
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
        interface=_nonempty(table, "interface"),
        controller=_nonempty(table, "controller"),
        oscillator_hz=table.integer("oscillator_hz", low=1),
        interrupt_gpio=table.integer("interrupt_gpio"),
        bitrate=table.integer("bitrate", low=1),
        fd=table.boolean("fd"),
        setup=table.strings("setup"),
        data_bitrate=table.integer("data_bitrate", None, low=1),
    )
    table.reject_unknown()
    up = next(
        (line for line in can.setup if line.startswith(f"ip link set {can.interface} up")), None
    )
    if up is None or f" bitrate {can.bitrate} " not in f"{up} ":
        raise ProfileError(
            f"{table.source}: {table.path}: setup must bring {can.interface} up with "
            f"'bitrate {can.bitrate}', got {list(can.setup)}"
        )
    if can.fd != (can.data_bitrate is not None) or (
        can.fd and f" dbitrate {can.data_bitrate} " not in f"{up} "
    ):
        raise ProfileError(
            f"{table.source}: {table.path}: fd = {can.fd} needs data_bitrate and "
            f"'dbitrate <data_bitrate>' in setup (and neither without fd)"
        )
    return can


def _gnss(table: _Table) -> GnssProfile:
    gnss = GnssProfile(
        receiver=_nonempty(table, "receiver"),
        connection=table.string("connection", choices=CONNECTIONS),
        device=_nonempty(table, "device"),
        baudrate=table.integer("baudrate", low=1),
        by_id=table.string("by_id", None),
    )
    table.reject_unknown()
    if gnss.by_id is not None and not gnss.by_id.strip():
        raise table.error("by_id", gnss.by_id, "a path under /dev/serial/by-id, not empty")
    return gnss


def _nonempty(table: _Table, key: str) -> str:
    """A string that is not blank (it may hold spaces and newlines: a description, a command)."""
    value = table.string(key)
    if not value.strip():
        raise table.error(key, value, "a string that is not empty")
    return value


class _Table(TomlTable):
    """A TOML table of a profile; an invalid value raises ``ProfileError``."""

    error_type = ProfileError
