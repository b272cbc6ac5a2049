"""The DBC decoder's compiled kernels (``protocols.dbc.kernels``): built when the package was
installed, or the box decodes with numpy passes (the same values, slower)."""

from __future__ import annotations

from firmware_py.doctor.findings import Finding, passed
from protocols.dbc.kernels import DecodeKernels


def check_decoder(kernels: DecodeKernels | None) -> Finding:
    """Which way the decoder groups and decodes frames; a box without the kernels still
    decodes (passed), and the detail says how to build them."""
    if kernels is not None:
        return passed("decoder", "the compiled kernels decode DBC signals")
    return passed(
        "decoder",
        "numpy passes decode DBC signals (the compiled kernels were not built: to build them, "
        "apt-get install gcc python3-dev, then install RoadGate again)",
    )
