"""Run a command where SocketCAN vcan interfaces exist: natively where the kernel has CAN,
otherwise inside a user-mode-linux guest. See ``hil.uml.runner``."""

from hil.uml.runner import (
    INSTALL_HINT,
    GuestResult,
    VcanRunError,
    VcanSetupError,
    VcanTimeoutError,
    VcanUnavailableError,
    kernel_has_can,
    run_in_guest,
    run_natively,
    run_with_vcan,
)

__all__ = [
    "INSTALL_HINT",
    "GuestResult",
    "VcanRunError",
    "VcanSetupError",
    "VcanTimeoutError",
    "VcanUnavailableError",
    "kernel_has_can",
    "run_in_guest",
    "run_natively",
    "run_with_vcan",
]
