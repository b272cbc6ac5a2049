"""python-can's in-process ``virtual`` interface for the hal tests."""

from __future__ import annotations

import uuid


def unique_channel() -> str:
    """A virtual CAN channel no other test shares."""
    return f"rg-test-{uuid.uuid4().hex}"
