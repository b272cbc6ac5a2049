"""The last check before a body is published: non-finite values never leave the box."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection

from google.protobuf.message import Message

from protocols.envelope import all_finite, non_finite_fields

log = logging.getLogger("edge.pipelines.publish_guard")


class PublishGuard:
    """The last check before a body is sealed into an Envelope and published.

    A body holding NaN or an infinity in any float field is refused: never published, counted
    in ``counters`` (``non_finite`` and ``non_finite.<BodyType>``, carried by health reports)
    and logged once per burst (at the first refusal, and once when that body type is
    publishable again). The sources drop bad values themselves; this guard is what keeps a
    value they missed from reaching the cloud and the radio.
    """

    def __init__(self, device_id: str) -> None:
        self._device_id = device_id
        self.counters: Counter[str] = Counter()
        self._refusing: set[str] = set()  # body types whose last body was refused

    def admit(self, body: Message, checked: Collection[str] = ()) -> bool:
        """True when ``body`` may be published; False (counted, maybe logged) when not.

        ``checked``: fields of ``body`` its source made from values it checked finite
        itself, and dropped what was not (``ObjectFusion.checked_fields``): not read again.
        """
        kind = body.DESCRIPTOR.name
        # The quick answer first; the walk that names the fields only for a body refused.
        bad = [] if all_finite(body, checked) else non_finite_fields(body)
        if not bad:
            if kind in self._refusing:
                self._refusing.discard(kind)
                log.info("%s: %s values are finite again", self._device_id, kind)
            return True
        self.counters["non_finite"] += 1
        self.counters[f"non_finite.{kind}"] += 1
        if kind not in self._refusing:
            self._refusing.add(kind)
            log.warning(
                "%s: not publishing %s with non-finite %s (logged once per burst)",
                self._device_id,
                kind,
                ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""),
            )
        return False
