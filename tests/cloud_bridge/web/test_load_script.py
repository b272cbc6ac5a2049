"""The load script (`python -m firmware_py.demo.load`) measures both runs, briefly."""

from __future__ import annotations

import pytest

from firmware_py.demo.load import main

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(180)
def test_the_load_script_compares_ingest_with_and_without_clients(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Short windows, so a wide tolerance: the figure is measured with the defaults (README).
    assert main(["--clients", "5", "--warmup", "4", "--window", "5", "--tolerance", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "without live clients:" in out
    assert "with 5 live clients:" in out
    assert "0 dropped" in out
