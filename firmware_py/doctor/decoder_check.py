"""The compiled kernels of the CAN reader (``hal.can.received_kernel``) and the DBC decoder
(``protocols.dbc.kernels``): built when the package was installed, or the box parses and
decodes with numpy passes (the same values, slower)."""

from __future__ import annotations

from firmware_py.doctor.findings import Finding, passed
from hal.can.received_kernel import ReceivedKernel
from protocols.dbc.kernels import DecodeKernels


def check_decoder(kernels: DecodeKernels | None, reader: ReceivedKernel | None) -> Finding:
    """Which way the reader parses CAN bursts and the decoder decodes them; a box without
    the kernels still does both (passed), and the detail says how to build them."""
    if kernels is not None and reader is not None:
        return passed("decoder", "compiled kernels parse CAN bursts and decode DBC signals")
    numpy = [
        work
        for work, kernel in (("parse CAN bursts", reader), ("decode DBC signals", kernels))
        if kernel is None
    ]
    return passed(
        "decoder",
        f"numpy passes {' and '.join(numpy)} (the compiled kernels were not built: to build "
        "them, apt-get install gcc python3-dev, then install RoadGate again)",
    )
