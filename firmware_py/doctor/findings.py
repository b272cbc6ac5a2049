"""One check's verdict: what holds, or what is wrong and how to fix it, on one line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """``check`` names what was checked (``can.vehicle``, ``gnss``, ``broker``...); ``fix``
    says what to do when ``ok`` is False (empty when it holds)."""

    check: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """``ok   check: detail`` or ``FAIL check: detail; fix: ...``."""
        if self.ok:
            return f"ok   {self.check}: {self.detail}"
        return f"FAIL {self.check}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")

    def as_json(self) -> dict[str, object]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def passed(check: str, detail: str) -> Finding:
    return Finding(check, True, detail)


def failed(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, False, detail, fix)
