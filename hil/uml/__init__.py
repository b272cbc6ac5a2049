"""Run a command where SocketCAN vcan interfaces exist: natively where the kernel has CAN,
otherwise inside a user-mode-linux guest. See ``hil.uml.runner``."""

from hil.uml.runner import (
    INSTALL_HINT,
    KERNEL_ENV,
    GuestResult,
    UmlKernel,
    VcanRunError,
    VcanSetupError,
    VcanTimeoutError,
    VcanUnavailableError,
    find_kernel,
    guest_modules,
    kernel_has_can,
    run_in_guest,
    run_natively,
    run_with_vcan,
)

__all__ = [
    "INSTALL_HINT",
    "KERNEL_ENV",
    "GuestResult",
    "UmlKernel",
    "VcanRunError",
    "VcanSetupError",
    "VcanTimeoutError",
    "VcanUnavailableError",
    "find_kernel",
    "guest_modules",
    "kernel_has_can",
    "run_in_guest",
    "run_natively",
    "run_with_vcan",
]
