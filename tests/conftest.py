"""Shared fixtures: hypothesis profiles, a private Mosquitto broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.mosquitto import Broker, private_mosquitto

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = PROJECT_ROOT.parent / "shared" / "corpora"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto on a free port of 127.0.0.1, stopped after the test."""
    with private_mosquitto(tmp_path) as broker:
        yield broker
