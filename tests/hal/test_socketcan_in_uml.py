"""The SocketCAN tests (``tests/hal/vcan``) on real vcan, and the runner that gets them there.

This kernel may have no CAN (CI machines do not): ``run_with_vcan`` then boots a user-mode-linux
guest once and runs the whole vcan suite inside it. The other tests here check the runner's
plumbing with a stand-in kernel script, without booting anything.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, cast

import pytest

from hil.uml import (
    INSTALL_HINT,
    KERNEL_ENV,
    VcanSetupError,
    VcanTimeoutError,
    VcanUnavailableError,
    find_kernel,
    guest_modules,
    run_in_guest,
    run_natively,
    run_with_vcan,
)
from hil.uml import kernel as uml_kernel
from hil.uml.guest_job import GUEST_INIT, guest_cpu, uml_command
from hil.uml.kernel import UML_MODULES, modules_of
from hil.uml.supervision import descendants
from tests.conftest import PROJECT_ROOT
from tests.hal.can_contract import CanPortContract
from tests.hal.vcan.conftest import IN_VCAN_ENV

VCAN_ONLY_TESTS = {
    "test_python_can_socketcan": 3,
    "test_socketcan_raw": 14,
    "test_socketcan_batches": 13,
}
"""The tests in tests/hal/vcan beyond the contract, per module."""
CONTRACT_CLASSES = ("TestPythonCanSocketcan", "TestSocketCanRaw", "TestSocketCanRawPerFrame")
"""The ``CanPortContract`` subclasses in tests/hal/vcan: each runs the whole contract."""


def contract_test_count() -> int:
    """How many tests ``CanPortContract`` gives a subclass, parametrized cases included."""
    count = 0
    for name in dir(CanPortContract):
        if name.startswith("test_"):
            cases = 1
            for mark in getattr(getattr(CanPortContract, name), "pytestmark", []):
                if mark.name == "parametrize":
                    cases *= len(mark.args[1])
            count += cases
    return count


def junit_outcomes(report: Path) -> dict[str, str]:
    """``classname::name`` -> passed / failure / error / skipped, from a JUnit XML report."""
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return outcomes


@pytest.mark.timeout(600)
def test_socketcan_suite_passes_on_vcan(tmp_path: Path) -> None:
    report = tmp_path / "vcan.xml"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--color=no",
        # Not the shared /tmp/pytest-of-<user>, which this run's own cleanup would touch.
        f"--basetemp={tmp_path / 'basetemp'}",
        f"--junitxml={report}",
        "tests/hal/vcan",
    ]
    # The host run's PYTEST_ADDOPTS (-k, -x, ...) must not filter the guest's run.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env[IN_VCAN_ENV] = "1"
    result = run_with_vcan(argv, cwd=PROJECT_ROOT, env=env, timeout_s=540)
    where = "user-mode-linux guest" if result.in_guest else "this kernel"
    print(
        f"vcan suite in {where}: setup {result.setup_s:.1f} s, pytest {result.command_s:.1f} s, "
        f"total {result.total_s:.1f} s"
    )
    output = f"--- output ({where}) ---\n{result.output_text}"
    assert report.exists(), f"the vcan run wrote no JUnit report\n{output}"
    outcomes = junit_outcomes(report)
    not_passed = {test: outcome for test, outcome in outcomes.items() if outcome != "passed"}
    assert not not_passed, f"{not_passed}\n{output}"
    assert result.exit_status == 0, output
    for contract_class in CONTRACT_CLASSES:
        contract = [test for test in outcomes if f"{contract_class}::" in test]
        assert len(contract) == contract_test_count(), output
    for module, count in VCAN_ONLY_TESTS.items():
        own = [test for test in outcomes if f"{module}::test_" in test]
        assert len(own) == count, output
    expected = len(CONTRACT_CLASSES) * contract_test_count() + sum(VCAN_ONLY_TESTS.values())
    assert len(outcomes) == expected, output


def test_missing_kernel_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(VcanUnavailableError, match=re.escape(INSTALL_HINT)):
        run_in_guest(["true"], cwd=tmp_path, timeout_s=5, kernel=tmp_path / "linux.uml")


@pytest.mark.parametrize(
    ("argv", "vcan", "env", "match"),
    [
        ([], ("vcan0",), {}, "argv"),
        ("true", ("vcan0",), {}, "argv"),
        (["true"], "vcan0", {}, "vcan"),
        (["true"], ("vcan 0",), {}, "interface name"),
        (["true"], ("v" * 16,), {}, "interface name"),
        (["true"], ("vcan0",), {"A=B": "1"}, "environment"),
        (["tr\0ue"], ("vcan0",), {}, "NUL"),
    ],
)
def test_bad_arguments_are_rejected_before_anything_starts(
    tmp_path: Path, argv: list[str], vcan: tuple[str, ...], env: dict[str, str], match: str
) -> None:
    for run in (run_in_guest, run_natively):
        with pytest.raises(ValueError, match=match):
            run(argv, vcan=vcan, cwd=tmp_path, env=env, timeout_s=5)
    with pytest.raises(ValueError, match="timeout"):
        run_natively(["true"], cwd=tmp_path, timeout_s=0)
    with pytest.raises(ValueError, match="cwd"):
        run_natively(["true"], cwd=tmp_path / "missing", timeout_s=5)


def test_keyword_arguments_are_checked_as_a_signature_would() -> None:
    # The job's keywords arrive as one dict (VcanJob): a missing or unknown one is a TypeError.
    for run in (run_in_guest, run_natively, run_with_vcan):
        with pytest.raises(TypeError, match="missing arguments \\['cwd'\\]"):
            run(["true"], **cast(Any, {"timeout_s": 5}))
        with pytest.raises(TypeError, match="unknown ones \\['timeout'\\]"):
            run(["true"], **cast(Any, {"cwd": Path("."), "timeout_s": 5, "timeout": 5}))


def fake_kernel(tmp_path: Path, body: str) -> Path:
    """A stand-in for linux.uml: parses the arguments the runner passes, then runs ``body``."""
    script = tmp_path / "fake-linux.uml"
    script.write_text(
        "#!/bin/bash\n"
        'for arg in "$@"; do case $arg in\n'
        "  con0=null,fd:*) console=${arg#con0=null,fd:} ;;\n"
        "  rg_job=*) job=${arg#rg_job=} ;;\n"
        "  rg_modules=*) modules=${arg#rg_modules=} ;;\n"
        "esac; done\n"
        'exec 1>&"$console" 2>&1\n' + body
    )
    script.chmod(0o755)
    return script


def test_the_job_reaches_init_and_the_status_comes_back(tmp_path: Path) -> None:
    # What guest_init.sh does with the job files, without booting a kernel.
    kernel = fake_kernel(
        tmp_path,
        "mapfile -d '' -t argv <\"$job/argv\"\n"
        "mapfile -d '' -t env <\"$job/env\"\n"
        "mapfile -d '' -t vcan <\"$job/vcan\"\n"
        'printf "argv[%s]" "${argv[@]}"; echo\n'
        'printf "env[%s]" "${env[@]}"; echo\n'
        'printf "vcan[%s]" "${vcan[@]}"; echo\n'
        'echo "cwd[$(<"$job/cwd")]"\n'
        'echo "init[${@: -1}]"\n'
        'echo 7 >"$job/status"\n',
    )
    copy = io.BytesIO()
    result = run_in_guest(
        ["/bin/echo", "two words", ""],
        vcan=("vcan0", "vcan1"),
        cwd=tmp_path,
        env={"A": "x y=z", "EMPTY": ""},
        timeout_s=30,
        output=copy,
        kernel=kernel,
    )
    assert result.output_text == (
        "argv[/bin/echo]argv[two words]argv[]\n"
        "env[A=x y=z]env[EMPTY=]\n"
        "vcan[vcan0]vcan[vcan1]\n"
        f"cwd[{tmp_path.resolve()}]\n"
        f"init[{GUEST_INIT}]\n"
    )
    assert copy.getvalue().decode() == result.output_text
    assert result.exit_status == 7
    assert result.in_guest
    assert GUEST_INIT.is_file()


def installed_kernel(prefix: Path, body: str = "") -> Path:
    """A stand-in kernel at ``prefix``/usr/bin/linux.uml with (empty) CAN modules beside it, laid
    out as Debian's package and scripts/bootstrap.sh's fetched copy are."""
    (prefix / "usr/bin").mkdir(parents=True)
    vcan_ko = prefix / "usr/lib/uml/modules/9.9.9/kernel/drivers/net/can/vcan.ko"
    vcan_ko.parent.mkdir(parents=True)
    vcan_ko.touch()
    return fake_kernel(prefix / "usr/bin", body).rename(prefix / "usr/bin/linux.uml")


def test_the_kernel_is_the_argument_then_the_variable_then_the_venv_s_then_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernels = {
        where: installed_kernel(tmp_path / where) for where in ("arg", "env", "venv", "path")
    }
    monkeypatch.setenv(KERNEL_ENV, str(kernels["env"]))
    monkeypatch.setattr(uml_kernel, "LOCAL_KERNEL", kernels["venv"])
    monkeypatch.setenv("PATH", f"{kernels['path'].parent}{os.pathsep}{os.environ['PATH']}")
    found = [find_kernel(kernels["arg"]), find_kernel()]
    monkeypatch.delenv(KERNEL_ENV)
    found.append(find_kernel())
    kernels["venv"].unlink()
    found.append(find_kernel())
    assert [(kernel.path, kernel.source) for kernel in found] == [
        (kernels["arg"], "kernel argument"),
        (kernels["env"], f"${KERNEL_ENV}"),
        (kernels["venv"], "fetched by scripts/bootstrap.sh"),
        (kernels["path"], "linux.uml on the PATH"),
    ]
    # Each kernel's modules are the ones installed beside it.
    assert [kernel.modules for kernel in found] == [
        tmp_path / where / "usr/lib/uml/modules" for where in ("arg", "env", "venv", "path")
    ]
    assert modules_of(tmp_path / "linux.uml") == UML_MODULES  # nothing beside it


def test_a_named_kernel_that_is_missing_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KERNEL_ENV, str(tmp_path / "nosuch" / "linux.uml"))
    with pytest.raises(
        VcanUnavailableError, match=r"nosuch/linux\.uml.*" + re.escape(INSTALL_HINT)
    ):
        run_in_guest(["true"], cwd=tmp_path, timeout_s=5)


def test_the_guest_is_told_where_its_kernel_s_modules_are(tmp_path: Path) -> None:
    kernel = installed_kernel(tmp_path / "uml", 'echo "modules[$modules]"\necho 0 >"$job/status"\n')
    result = run_in_guest(["true"], cwd=tmp_path, timeout_s=30, kernel=kernel)
    assert result.output_text == f"modules[{tmp_path / 'uml/usr/lib/uml/modules'}]\n"
    assert result.kernel is not None
    assert result.kernel.path == kernel
    # Outside a guest started by the runner: Debian's place, for the running kernel's release.
    assert guest_modules() == UML_MODULES / os.uname().release


def test_the_guest_runs_on_one_host_cpu_the_last_this_process_may_use(tmp_path: Path) -> None:
    kernel = installed_kernel(
        tmp_path / "uml", 'grep Cpus_allowed_list /proc/$$/status\necho 0 >"$job/status"\n'
    )
    result = run_in_guest(["true"], cwd=tmp_path, timeout_s=30, kernel=kernel)
    allowed = os.sched_getaffinity(0)
    assert len(allowed) > 1, "this test needs a process that may use two CPUs or more"
    assert guest_cpu() == max(allowed)
    assert result.output_text == f"Cpus_allowed_list:\t{max(allowed)}\n"


def test_a_command_pinned_or_not_starts_with_the_kernel_or_taskset(tmp_path: Path) -> None:
    kernel, job = tmp_path / "linux", tmp_path / "job"
    free = uml_command(kernel, job, console_fd=3, memory_mb=512)
    pinned = uml_command(kernel, job, console_fd=3, memory_mb=512, cpu=1)
    assert free[0] == str(kernel)
    assert pinned == ["taskset", "--cpu-list", "1", *free]


def check_boot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hil.uml", "--quiet", "--timeout", "30", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_boot_check_says_which_kernel_boots_and_why_another_cannot(tmp_path: Path) -> None:
    good = installed_kernel(tmp_path / "good", 'echo 0 >"$job/status"\n')
    bad = installed_kernel(
        tmp_path / "bad",
        "echo 'Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b'\n",
    )
    booted, panicked = check_boot("--kernel", str(good)), check_boot("--kernel", str(bad))
    assert (booted.returncode, panicked.returncode) == (0, 1)
    assert booted.stdout == (
        f"boots: {good} (kernel argument), modules {tmp_path / 'good/usr/lib/uml/modules'}\n"
    )
    assert panicked.stderr == (
        "cannot boot: Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n"
    )


def test_a_guest_that_reports_no_status_is_a_setup_error(tmp_path: Path) -> None:
    kernel = fake_kernel(tmp_path, 'echo "kernel panic, say"\necho "setup failed: insmod" >&2\n')
    with pytest.raises(VcanSetupError, match=r"(?s)no exit status.*kernel panic, say"):
        run_in_guest(["true"], cwd=tmp_path, timeout_s=30, kernel=kernel)


def test_a_timeout_kills_every_process_even_those_that_left_the_group(tmp_path: Path) -> None:
    escaped = tmp_path / "escaped.pid"
    kernel = fake_kernel(
        tmp_path,
        f'echo started\nsetsid sleep 300 & echo $! >"{escaped}"\nsleep 300\n',
    )
    started = time.monotonic()
    with pytest.raises(VcanTimeoutError, match=r"(?s)did not finish in time.*started"):
        run_in_guest(["true"], cwd=tmp_path, timeout_s=1, kernel=kernel)
    assert time.monotonic() - started < 10
    assert not process_alive(int(escaped.read_text()))


def test_natively_without_interfaces_runs_the_command_as_asked(tmp_path: Path) -> None:
    copy = io.BytesIO()
    result = run_natively(
        ["/bin/sh", "-c", 'echo "$A"; pwd; echo err >&2; exit 3'],
        vcan=(),
        cwd=tmp_path,
        env={"A": "x y=z"},
        timeout_s=30,
        output=copy,
    )
    assert result.output_text == f"x y=z\n{tmp_path.resolve()}\nerr\n"
    assert copy.getvalue().decode() == result.output_text
    assert result.exit_status == 3
    assert not result.in_guest


@pytest.mark.timeout(120)
def test_a_real_guest_that_times_out_leaves_no_process_behind(tmp_path: Path) -> None:
    # Processes of earlier tests' fixtures (a module's broker) are not this run's.
    before = set(descendants(os.getpid()))
    with pytest.raises(VcanTimeoutError, match=r"(?s)did not finish in time.*waiting"):
        run_in_guest(["/bin/sh", "-c", "echo waiting; sleep 300"], cwd=tmp_path, timeout_s=12)
    now = descendants(os.getpid())
    left = {pid: name for pid, name in now.items() if pid not in before and process_alive(pid)}
    assert not left


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its parent's wait counts as gone)."""
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def test_sigterm_kills_the_command_and_ends_this_process(tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        run_natively(
            ["/bin/sh", "-c", f'sleep 300 & echo $! >"{child}"; kill -TERM $PPID; wait'],
            vcan=(),
            cwd=tmp_path,
            timeout_s=60,
        )
    assert stopped.value.code == 128 + 15
    assert time.monotonic() - started < 10
    assert not process_alive(int(child.read_text()))
