"""The dashboard in a real browser: `roadgate demo` serves it, Debian's Chromium (driven by
Playwright, nothing downloaded) shows tracks moving, signal heads changing colour with the SPaT
and new events arriving; a screenshot is saved in the test's tmp dir."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, sync_playwright

PROJECT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# The colours dashboard.js paints each SignalState with.
COLOURS = {
    "SIGNAL_STATE_GREEN": (0x2E, 0xCC, 0x40),
    "SIGNAL_STATE_AMBER": (0xFF, 0xB0, 0x00),
    "SIGNAL_STATE_RED": (0xE8, 0x26, 0x2B),
}
T = TypeVar("T")

pytestmark = pytest.mark.e2e


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    """A running demo's dashboard URL (with its key); the demo is stopped with Ctrl-C after."""
    log_path = tmp_path / "demo.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "firmware_py.cli", "demo", "--store", str(tmp_path / "demo.db")],
        cwd=PROJECT,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"Dashboard: (http://\S+)", log_path.read_text())):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield found.group(1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def eventually(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while (result := probe()) is None or result is False:
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.2)
    return result


def pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    rgb = page.evaluate(
        "([x, y]) => Array.from(document.getElementById('map').getContext('2d')"
        ".getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3))",
        [x, y],
    )
    return (rgb[0], rgb[1], rgb[2])


def heads(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.roadgate.signalHeads()")
    return found


@pytest.mark.timeout(300)  # waits up to 45 s for a signal change and 60 s for an event
def test_the_dashboard_shows_the_live_intersection(dashboard_url: str, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(dashboard_url)
            # The map is drawn from the roadside unit's intersection description.
            eventually(lambda: page.evaluate("window.roadgate.hasIntersection()"), 30, "map")
            eventually(lambda: any(h["state"] for h in heads(page)) or None, 30, "SPaT")

            # Tracks move: some track id is drawn somewhere else a moment later.
            first = {t["id"]: t for t in page.evaluate("window.roadgate.tracks()")}
            assert first, "no fused tracks drawn"

            def moved() -> bool:
                now = page.evaluate("window.roadgate.tracks()")
                return any(
                    t["id"] in first
                    and abs(t["x"] - first[t["id"]]["x"]) + abs(t["y"] - first[t["id"]]["y"]) > 3
                    for t in now
                )

            eventually(moved, 20, "track movement")
            assert page.locator("#tracks tbody tr").count() >= 1

            # Signal heads change colour with the SPaT (the demo's plan changes every <= 30 s),
            # and the canvas shows each head in its state's colour.
            before = {(h["lane"], h["state"]) for h in heads(page)}

            def changed() -> list[dict[str, Any]] | None:
                now = heads(page)
                turned = [h for h in now if (h["lane"], h["state"]) not in before]
                return turned or None

            turned = eventually(changed, 45, "signal change")
            for head in heads(page):
                if head["state"] in COLOURS:
                    assert pixel(page, head["x"], head["y"]) == COLOURS[head["state"]], head
            assert turned

            # A new event appears in the feed.
            seen = page.evaluate("window.roadgate.eventsSeen()")
            first_item = page.locator("#events li").first.get_attribute("data-event")
            eventually(lambda: page.evaluate("window.roadgate.eventsSeen()") > seen, 60, "event")
            eventually(
                lambda: page.locator("#events li").first.get_attribute("data-event") != first_item,
                5,
                "new event in the feed",
            )
            assert page.locator("#devices tbody tr").count() == 3
            page.screenshot(path=str(tmp_path / "dashboard.png"))
            assert errors == []
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
