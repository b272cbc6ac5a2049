"""Board profiles: every shipped one loads and is consistent; bad files are rejected clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.profiles import PROFILE_DIR, ProfileError, load_profile, profile_names


def test_the_profiles_the_readme_promises_are_shipped() -> None:
    assert profile_names() == [
        "rpi-pican2",
        "rpi-waveshare-2ch-canfd",
        "rpi-waveshare-rs485-can",
        "ublox-neo-m8-uart",
        "ublox-neo-m8-usb",
        "ublox-zed-f9p-uart",
        "ublox-zed-f9p-usb",
    ]
    readme = (PROFILE_DIR / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in profile_names())


@pytest.mark.parametrize("name", profile_names())
def test_every_shipped_profile_loads(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.can or profile.gnss
    for can in profile.can:
        overlay = "mcp251xfd" if can.fd else f"mcp2515-{can.interface}"
        assert any(line.startswith(f"dtoverlay={overlay}") for line in profile.config_txt)
        assert any(f"interrupt={can.interrupt_gpio}" in line for line in profile.config_txt)
    for gnss in profile.gnss:
        assert gnss.device == "/dev/gnss0"
        assert any('SYMLINK+="gnss0"' in rule for rule in profile.udev_rules)


def test_mcp2515_overlays_name_the_crystal_the_profile_declares() -> None:
    for name in ("rpi-pican2", "rpi-waveshare-rs485-can"):
        (can,) = load_profile(name).can
        assert any(
            f"oscillator={can.oscillator_hz}," in line for line in load_profile(name).config_txt
        )


def test_fd_profile_sets_a_data_bitrate() -> None:
    profile = load_profile("rpi-waveshare-2ch-canfd")
    assert [(c.interface, c.fd, c.data_bitrate) for c in profile.can] == [
        ("can0", True, 2_000_000),
        ("can1", True, 2_000_000),
    ]


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndescription = "d"\nboards = ["b"]\nnotes = ""\n' + body)
    return path


GNSS_OK = (
    'config_txt = []\nudev_rules = []\n[[gnss]]\nreceiver = "r"\nconnection = "usb"\n'
    'device = "/dev/gnss0"\nbaudrate = 9600\n'
)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            GNSS_OK.replace('"usb"', '"spi"'),
            r"rgbad\.toml: gnss\[0\]\.connection = 'spi' is invalid: "
            r"expected one of \('uart', 'usb'\)",
        ),
        (
            GNSS_OK.replace("9600", "-1"),
            r"gnss\[0\]\.baudrate = -1 is invalid: expected an integer >= 1",
        ),
        (GNSS_OK.replace("baudrate = 9600\n", ""), r"gnss\[0\]\.baudrate is required"),
        (GNSS_OK.replace("config_txt = []", 'config_txt = ["spi=on"]'), "must start with"),
        ("config_txt = []\nudev_rules = []\n", r"at least one \[\[can\]\]"),
        (
            'config_txt = []\nudev_rules = []\n[[can]]\ninterface = "can0"\ncontroller = "c"\n'
            "oscillator_hz = 1\ninterrupt_gpio = 25\nbitrate = 500000\nfd = false\n"
            'setup = ["ip link set can0 up type can bitrate 250000"]\n',
            "bitrate 500000",
        ),
        (
            'config_txt = []\nudev_rules = []\n[[can]]\ninterface = "can0"\ncontroller = "c"\n'
            "oscillator_hz = 1\ninterrupt_gpio = 25\nbitrate = 500000\nfd = true\n"
            'setup = ["ip link set can0 up type can bitrate 500000"]\n',
            "data_bitrate",
        ),
        ("config_txt = [\n", r"rgbad\.toml: not valid TOML"),
        (
            GNSS_OK + "colour = 1\n",
            r"unknown key 'gnss\[0\]\.colour'; valid keys here: \[.*'baudrate'",
        ),
        (
            GNSS_OK.replace("9600", "nan"),
            r"gnss\[0\]\.baudrate = nan is invalid: expected a finite",
        ),
    ],
)
def test_bad_profiles_are_rejected_naming_key_and_value(
    tmp_path: Path, body: str, match: str
) -> None:
    write(tmp_path, "rgbad", body)
    with pytest.raises(ProfileError, match=match):
        load_profile("rgbad", tmp_path)


def test_unknown_profile_lists_the_shipped_ones(tmp_path: Path) -> None:
    write(tmp_path, "rgok", GNSS_OK)
    assert load_profile("rgok", tmp_path).gnss[0].baudrate == 9600
    with pytest.raises(ProfileError, match="shipped: rpi-pican2"):
        load_profile("no-such-board")
    (tmp_path / "rgok.toml").rename(tmp_path / "renamed.toml")
    with pytest.raises(ProfileError, match="expected the file's name"):
        load_profile("renamed", tmp_path)
