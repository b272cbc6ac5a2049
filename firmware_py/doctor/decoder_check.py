"""The DBC decoder's compiled block kernel: built when the package was installed, or the box
decodes with numpy passes (the same values, slower)."""

from __future__ import annotations

from firmware_py.doctor.findings import Finding, passed
from protocols.dbc.block_runner import BlockKernel


def check_decoder(kernel: BlockKernel | None) -> Finding:
    """Which way the decoder decodes its blocks; a box without the kernel still decodes
    (passed), and the detail says how to build it."""
    if kernel is not None:
        return passed("decoder", "the compiled block kernel decodes DBC signals")
    return passed(
        "decoder",
        "numpy passes decode DBC signals (the compiled kernel was not built: to build it, "
        "apt-get install gcc python3-dev, then install RoadGate again)",
    )
