"""Which user-mode-linux kernel a guest boots, and where its modules are.

An explicit ``kernel`` argument, else ``$ROADGATE_UML_KERNEL``, else the one
``scripts/bootstrap.sh test`` fetched into the venv (``<venv>/uml``: Debian 12's kernel cannot
restore the FPU state on CPUs with large XSAVE areas, such as AMX, and panics at once), else
``linux.uml`` on the PATH. Its modules are the ones installed beside it
(``<kernel>/../../lib/uml/modules``, else ``/usr/lib/uml/modules``); the guest is told where on
its kernel command line (``MODULES_PARAMETER``).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from hil.uml.errors import VcanUnavailableError

INSTALL_HINT = "apt-get install user-mode-linux kmod can-utils iproute2"
"""The Debian packages ``run_in_guest`` needs on the host."""

UML_MODULES = Path("/usr/lib/uml/modules")
"""Where Debian's user-mode-linux package puts the modules of /usr/bin/linux.uml."""
KERNEL_ENV = "ROADGATE_UML_KERNEL"
"""The environment variable naming the kernel to boot (a path), ahead of any other."""
LOCAL_UML = Path(sys.prefix) / "uml"
"""Where ``scripts/bootstrap.sh test`` unpacks a newer kernel when the system's cannot boot."""
LOCAL_KERNEL = LOCAL_UML / "root" / "usr" / "bin" / "linux.uml"
BOOTSTRAP_HINT = (
    "scripts/bootstrap.sh test checks that the kernel boots and fetches a newer one where "
    "it does not"
)
# The modules guest_init.sh loads, in its order; the host checks that the last one exists.
CAN_MODULES = (
    "net/can/can",
    "net/can/can-raw",
    "net/can/can-bcm",
    "drivers/net/can/dev/can-dev",
    "drivers/net/can/vcan",
)
# The kernel command-line parameter (init's environment variable) that names the modules root.
MODULES_PARAMETER = "rg_modules="


@dataclass(frozen=True)
class UmlKernel:
    """The user-mode-linux kernel a guest boots: ``modules`` holds ``<release>/kernel/...``,
    ``source`` says why this one (argument, environment variable, venv, PATH)."""

    path: Path
    modules: Path
    source: str

    def describe(self) -> str:
        """``PATH (SOURCE)``, for messages."""
        return f"{self.path} ({self.source})"


def find_kernel(kernel: Path | None = None) -> UmlKernel:
    """The kernel a guest boots, and its modules: ``kernel`` when given, else
    ``$ROADGATE_UML_KERNEL``, else the venv's (``LOCAL_KERNEL``), else ``linux.uml`` on the PATH.

    Raises ``VcanUnavailableError`` when that kernel or its CAN modules are missing.
    """
    named = os.environ.get(KERNEL_ENV)
    found: str | None
    if kernel is not None:
        found, source = str(kernel), "kernel argument"
    elif named:
        found, source = named, f"${KERNEL_ENV}"
    elif os.access(LOCAL_KERNEL, os.X_OK):
        found, source = str(LOCAL_KERNEL), "fetched by scripts/bootstrap.sh"
    else:
        found, source = shutil.which("linux.uml"), "linux.uml on the PATH"
    if found is None or not os.access(found, os.X_OK):
        raise VcanUnavailableError(
            f"no user-mode-linux kernel ({found or source}): this kernel has no CAN support, "
            f"so vcan runs happen in a user-mode-linux guest. Install: {INSTALL_HINT} "
            f"({BOOTSTRAP_HINT})"
        )
    modules = modules_of(Path(found))
    if not any(modules.glob(f"*/kernel/{CAN_MODULES[-1]}.ko")):
        raise VcanUnavailableError(
            f"the CAN modules of the user-mode-linux kernel {found} are missing ({modules}/"
            f"<version>/kernel/{CAN_MODULES[-1]}.ko). Install: {INSTALL_HINT}"
        )
    return UmlKernel(Path(found), modules, source)


def modules_of(kernel: Path) -> Path:
    """Where the modules of ``kernel`` are: ``lib/uml/modules`` beside the ``bin`` it is in
    (/usr/bin/linux.uml: /usr/lib/uml/modules), else ``UML_MODULES``."""
    beside = kernel.resolve().parent.parent / "lib" / "uml" / "modules"
    return beside if beside.is_dir() else UML_MODULES


def guest_modules() -> Path:
    """Inside a guest: the running kernel's module directory (``<modules>/<release>``, which
    holds ``kernel/net/...``), from the kernel command line; ``UML_MODULES``/<release> when the
    command line does not say (not started by ``run_in_guest``)."""
    try:
        parameters = Path("/proc/cmdline").read_text().split()
    except OSError:
        parameters = []
    root = next(
        (
            Path(p.removeprefix(MODULES_PARAMETER))
            for p in parameters
            if p.startswith(MODULES_PARAMETER)
        ),
        UML_MODULES,
    )
    return root / os.uname().release
