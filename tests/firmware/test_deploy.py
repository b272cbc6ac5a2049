"""Deployment: the systemd units pass ``systemd-analyze verify``, install.sh installs into a
scratch root (idempotently, keeping config and outbox) and the unit's ExecStart runs from it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_py.config.loader import EXAMPLES_DIR

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "firmware_py" / "deploy"
INSTALL = DEPLOY / "install.sh"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
PACKAGES = ("firmware_py", "protocols", "hal", "edge", "cloud_bridge", "hil")
INSTALL_HINT = (
    "systemd-analyze is missing: install Debian's systemd package "
    "(apt-get install systemd; scripts/bootstrap.sh test does it)"
)


def systemd_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(INSTALL_HINT.replace("systemd-analyze", name))
    return path


@dataclass(frozen=True)
class Installed:
    root: Path
    source: Path
    deps: Path
    log: str

    def path(self, absolute: str) -> Path:
        """Where ``absolute`` (a path on the board) is in the scratch root."""
        return self.root / absolute.lstrip("/")

    def unit(self, name: str) -> str:
        return self.path(f"/etc/systemd/system/{name}").read_text()


def copy_source(to: Path) -> Path:
    """The project's files pip needs, apart from the working tree (a build writes into it)."""
    # Built files left out too: the install builds the decoder's kernels itself.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "*.so")
    for package in PACKAGES:
        shutil.copytree(REPO / package, to / package, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, to / name)
    return to


def dependencies(to: Path) -> Path:
    """The test environment's installed packages, roadgate's own entries left out: what the board
    downloads from PyPI (tests have no network), put on PYTHONPATH for the scratch venv."""
    to.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "roadgate" in entry.name or entry.name.startswith(("__editable__", "pip")):
            continue
        (to / entry.name).symlink_to(entry)
    return to


def install(root: Path, source: Path, deps: Path, config: Path) -> str:
    result = subprocess.run(
        [
            "bash",
            str(INSTALL),
            "--root",
            str(root),
            "--source",
            str(source),
            "--config",
            str(config),
            "--python",
            sys.executable,
            "--pip-args",
            "--no-index --no-deps --no-build-isolation",
        ],
        env=os.environ | {"PYTHONPATH": str(deps)},
        cwd=root.parent,  # not the working tree, which python -m would put on sys.path
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("deploy")
    config = base / "box.toml"
    # The shipped simulated vehicle, its broker a port nobody listens on.
    text = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
    config.write_text(text.replace("port = 1883", f"port = {free_port()}"))
    source = copy_source(base / "src")
    deps = dependencies(base / "deps")
    root = base / "root"
    log = install(root, source, deps, config)
    return Installed(root, source, deps, log)


def test_the_units_pass_systemd_analyze_verify(installed: Installed, tmp_path: Path) -> None:
    analyze = systemd_tool("systemd-analyze")
    # As installed, with /opt/roadgate pointing into the scratch root: verify checks that
    # ExecStart's program exists.
    names = []
    for unit in UNITS:
        text = installed.unit(unit.name)
        assert text == unit.read_text()
        (tmp_path / unit.name).write_text(
            text.replace("/opt/roadgate/", f"{installed.path('/opt/roadgate')}/")
        )
        names.append(str(tmp_path / unit.name))
    result = subprocess.run(
        [analyze, "verify", *names], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "roadgate" not in result.stderr, result.stderr  # no warning about our units
    # Exposure at most 3.0 of 10 ("OK"); the threshold is in tenths.
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=30", *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert security.returncode == 0, security.stdout[-2000:]


def test_the_box_unit_is_a_hardened_notify_service() -> None:
    unit = (DEPLOY / "systemd" / "roadgate-box.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["Type"] == "notify"
    assert int(settings["WatchdogSec"]) > 0
    assert settings["Restart"] == "on-failure"
    assert settings["User"] == "roadgate"
    assert settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["StateDirectory"] == "roadgate"
    assert settings["ConfigurationDirectory"] == "roadgate"
    assert settings["CapabilityBoundingSet"] == ""
    assert "AF_CAN" in settings["RestrictAddressFamilies"]


def test_install_lays_out_venv_config_state_user_units_and_rules(installed: Installed) -> None:
    venv = installed.path("/opt/roadgate/venv")
    assert (venv / "bin" / "roadgate").is_file()
    assert installed.path("/etc/roadgate/box.toml").is_file()
    assert installed.path("/var/lib/roadgate").is_dir()
    for unit in UNITS:
        assert installed.path(f"/etc/systemd/system/{unit.name}").is_file()
    for rules in (DEPLOY / "udev").glob("*.rules"):
        assert installed.path(f"/etc/udev/rules.d/{rules.name}").read_text() == rules.read_text()
    assert installed.path("/opt/roadgate/share/deploy/boot/config.txt.can").is_file()
    assert installed.path("/opt/roadgate/share/examples/vehicle-toyota.toml").is_file()
    systemd_tool("systemd-sysusers")
    passwd = installed.path("/etc/passwd").read_text()
    assert re.search(
        r"^roadgate:x:\d+:\d+:[^:]*:/var/lib/roadgate:/usr/sbin/nologin$", passwd, re.M
    )
    assert re.search(
        r"^dialout:x:\d+:(.*,)?roadgate(,.*)?$", installed.path("/etc/group").read_text(), re.M
    )
    # The installed copy is what runs, not the working tree.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import firmware_py; print(firmware_py.__file__)"],
        env=os.environ | {"PYTHONPATH": str(installed.deps)},
        cwd=installed.root,  # python -c puts the working directory first on sys.path
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert where.stdout.startswith(str(venv))


def exec_start(installed: Installed) -> tuple[list[str], dict[str, str]]:
    """The box unit's ExecStart and Environment, their board paths moved into the root."""
    unit = installed.unit("roadgate-box.service")
    [command] = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    [environment] = re.findall(r"^Environment=(.*)$", unit, re.M)
    env = dict(item.split("=", 1) for item in shlex.split(environment))
    # What systemd sets for StateDirectory= and ConfigurationDirectory=.
    env |= {"STATE_DIRECTORY": "/var/lib/roadgate", "CONFIGURATION_DIRECTORY": "/etc/roadgate"}
    inside = {k: str(installed.path(v)) if v.startswith("/") else v for k, v in env.items()}
    argv = [str(installed.path(a)) if a.startswith("/") else a for a in shlex.split(command)]
    return argv, inside


@pytest.mark.parametrize("module", ["protocols.dbc._kernels", "hal.can._received"])
def test_install_builds_the_compiled_kernels(installed: Installed, module: str) -> None:
    python = installed.path("/opt/roadgate/venv/bin/python")
    result = subprocess.run(
        [str(python), "-c", f"import {module} as m; print(m.__file__)"],
        env=os.environ | {"PYTHONPATH": str(installed.deps)},
        cwd=installed.root.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(installed.path("/opt/roadgate/venv")))


def test_the_units_command_runs_from_the_root_and_notifies(installed: Installed) -> None:
    argv, unit_env = exec_start(installed)
    assert argv[0] == str(installed.path("/opt/roadgate/venv/bin/roadgate"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"roadgate-deploy-{uuid.uuid4().hex}"
    listener.bind("\0" + name)
    listener.settimeout(0)
    with listener:
        result = subprocess.run(
            [*argv, "--duration", "3"],
            env=os.environ
            | unit_env
            | {"PYTHONPATH": str(installed.deps), "NOTIFY_SOCKET": "@" + name},
            cwd=installed.path("/var/lib/roadgate"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        datagrams = []
        while True:
            try:
                datagrams.append(listener.recv(4096).decode())
            except BlockingIOError:
                break
    assert result.returncode == 0, result.stderr
    assert datagrams[0].startswith("READY=1\nSTATUS=veh-001 (vehicle_gateway)")
    assert datagrams[-1].startswith("STOPPING=1")
    # The outbox went into the state directory.
    assert list(installed.path("/var/lib/roadgate").rglob("veh-001-outbox.sqlite3"))


def test_a_second_install_keeps_config_and_outbox(installed: Installed, tmp_path: Path) -> None:
    config = installed.path("/etc/roadgate/box.toml")
    config.write_text(config.read_text() + "\n# edited on the board\n")
    outbox = installed.path("/var/lib/roadgate/kept-outbox.sqlite3")
    outbox.write_bytes(b"messages waiting")
    other = tmp_path / "other.toml"
    other.write_text("# another config\n")
    log = install(installed.root, installed.source, installed.deps, other)
    assert "creating" not in log  # the venv is upgraded in place
    assert config.read_text().endswith("# edited on the board\n")
    assert outbox.read_bytes() == b"messages waiting"
    assert installed.path("/opt/roadgate/venv/bin/roadgate").is_file()


def test_install_refuses_unknown_arguments() -> None:
    result = subprocess.run(
        ["bash", str(INSTALL), "--frobnicate"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "unknown argument --frobnicate" in result.stderr
