"""BSMs heard by the roadside unit's radio, as reports for the cooperative associator: the
radio's ``on_heard`` collaborator."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from edge.geodesy import LocalFrame
from edge.roadside.cooperative_reports import (
    DEFAULTS,
    CooperativeReport,
    ReportDefaults,
    report_from_bsm,
)


class BsmFeed:
    """Turns each BSM the radio heard into a ``CooperativeReport`` in ``frame`` and gives it to
    ``offer``; other kinds of message are not its business.

    Pass it as ``V2xRadio(..., on_heard=feed)``. ``counters``: ``heard`` (BSMs), ``offered``
    and ``rejects.<reason>`` (see ``report_from_bsm``). Never raises on what it is given.
    """

    def __init__(
        self,
        frame: LocalFrame,
        offer: Callable[[CooperativeReport], None],
        *,
        defaults: ReportDefaults = DEFAULTS,
    ) -> None:
        self._frame = frame
        self._offer = offer
        self._defaults = defaults
        self._counts: Counter[str] = Counter({"heard": 0, "offered": 0})
        self._rejects: Counter[str] = Counter()

    @property
    def counters(self) -> Mapping[str, int]:
        out = dict(self._counts)
        out.update({f"rejects.{reason}": n for reason, n in self._rejects.items()})
        return out

    def __call__(self, kind: str, fields: Mapping[str, Any], received_s: float) -> None:
        if kind != "bsm":
            return
        self._counts["heard"] += 1
        report = report_from_bsm(
            fields, received_s, self._frame, defaults=self._defaults, rejects=self._rejects
        )
        if report is not None:
            self._counts["offered"] += 1
            self._offer(report)
