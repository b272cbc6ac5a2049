"""``roadgate benchmark v2x``: our T/CSAE 53 path against plain asn1tools, per message kind.

The frames (``v2x_samples``): BSMs and SPATs encoded from random values of ours, and the MAP,
RSM and RSI samples. For each kind, frames per second of:

* decode, ours: ``protocols.v2x.decode_message_frame`` (UPER with constraint checks, then the
  conversion to our units for BSM and SPAT); ours-json: ``frame_json.decode_json`` (UPER,
  then the JER value the CLI prints);
* decode, peer: ``specification().decode("MessageFrame", data)``, asn1tools as a user calls it
  (no constraint checks, no conversion): the floor our path adds to;
* encode, ours: ``encode_bsm``/``encode_spat`` from our values (the other kinds have no
  encoder of ours yet: ``frame_json.encode_json`` from the JER value); peer: asn1tools
  ``encode`` of the decoded value.

Ratios are ours / peer (below 1: ours is slower). Best of ``REPEATS`` runs, sides taking turns,
the garbage collector off (``benchmarks.decode.best_times``). Before timing every frame is
checked: the JSON round trip gives the same bytes and both decoders read the same frame.
Then the cost of one Day-1 application cycle with 200 remote vehicles heard
(``apps_cycle_ms_200``, the median; ``v2x_apps``): no peer library runs these applications.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware_py.benchmarks.decode import best_times
from firmware_py.benchmarks.v2x_apps import (
    DEFAULT_CYCLES,
    QUICK_CYCLES,
    AppsCycleResult,
    run_apps_cycle_bench,
)
from firmware_py.benchmarks.v2x_samples import (
    JSON_SAMPLES,
    bsm_frame,
    random_spat,
    random_state,
    spat_frame,
)
from firmware_py.errors import FirmwareError
from protocols.v2x import decode_message_frame, specification
from protocols.v2x.frame_json import decode_json, encode_json, from_json

FRAME = "MessageFrame"
DEFAULT_FRAMES = 2000
QUICK_FRAMES = 100
REPEATS = 5
QUICK_REPEATS = 2


@dataclass(frozen=True)
class Rates:
    """Frames per second of one operation: ours, ours through JSON, and the peer's."""

    ours: float
    ours_json: float
    peer: float

    @property
    def ratio(self) -> float:
        return self.ours / self.peer

    def as_json(self) -> dict[str, float]:
        return {
            "ours": round(self.ours, 1),
            "ours_json": round(self.ours_json, 1),
            "peer": round(self.peer, 1),
            "ratio": round(self.ratio, 3),
        }


@dataclass(frozen=True)
class KindResult:
    """One message kind's decode and encode rates over ``frames`` frames of ``mean_bytes``."""

    kind: str
    frames: int
    mean_bytes: float
    decode: Rates
    encode: Rates
    encoder: str  # what "ours" encodes from


@dataclass(frozen=True)
class V2xBenchResult:
    """Every kind's result; the ``--json`` record is BSM decode's."""

    kinds: list[KindResult]
    repeats: int
    apps: AppsCycleResult

    def kind(self, name: str) -> KindResult:
        return next(k for k in self.kinds if k.kind == name)

    def as_json(self) -> dict[str, object]:
        """``ours``, ``peer``, ``ratio``, ``unit`` (BSM decode), ``apps_cycle_ms_200`` (the
        median cycle, ms) with the cycle's details under ``apps``, and every kind's figures
        under ``kinds``."""
        bsm = self.kind("bsm").decode
        return {
            "ours": round(bsm.ours, 1),
            "peer": round(bsm.peer, 1),
            "ratio": round(bsm.ratio, 3),
            "unit": "frames/s",
            "apps_cycle_ms_200": round(self.apps.median_ms, 3),
            "apps": {
                "remotes": self.apps.remotes,
                "applications": self.apps.apps,
                "cycles": self.apps.cycles,
                "median_ms": round(self.apps.median_ms, 3),
                "p99_ms": round(self.apps.p99_ms, 3),
                "ingest_us_per_bsm": round(self.apps.ingest_us_per_bsm, 1),
                "warnings": self.apps.warnings,
                "errors": self.apps.errors,
            },
            "kinds": {
                k.kind: {
                    "frames": k.frames,
                    "mean_bytes": round(k.mean_bytes, 1),
                    "decode": k.decode.as_json(),
                    "encode": k.encode.as_json(),
                    "encoder": k.encoder,
                }
                for k in self.kinds
            },
        }


def run_v2x_bench(
    frames: int = DEFAULT_FRAMES, *, quick: bool = False, seed: int = 0
) -> V2xBenchResult:
    """Benchmark every kind on ``frames`` frames each (``quick``: fewer repeats).

    Raises ``ValueError`` for ``frames`` below 1, ``FirmwareError`` when a frame does not
    round-trip or the two decoders disagree.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    repeats = QUICK_REPEATS if quick else REPEATS
    rng = random.Random(seed)
    states = [random_state(rng) for _ in range(frames)]
    spats = [random_spat(rng) for _ in range(frames)]
    results = [
        _bench_kind(
            "bsm",
            [bsm_frame(s, i, i) for i, s in enumerate(states)],
            lambda: [bsm_frame(s, i, i) for i, s in enumerate(states)],
            "pb.VehicleState (encode_bsm)",
            repeats,
        ),
        _bench_kind(
            "spat",
            [spat_frame(s, i) for i, s in enumerate(spats)],
            lambda: [spat_frame(s, i) for i, s in enumerate(spats)],
            "pb.SignalPhaseTiming (encode_spat)",
            repeats,
        ),
    ]
    for kind, sample in JSON_SAMPLES.items():
        data = encode_json(sample)
        results.append(_bench_kind(kind, [data] * frames, None, "JER value (encode_json)", repeats))
    apps = run_apps_cycle_bench(QUICK_CYCLES if quick else DEFAULT_CYCLES, seed=seed)
    return V2xBenchResult(results, repeats, apps)


def _bench_kind(
    kind: str,
    data: list[bytes],
    encode_ours: Callable[[], object] | None,
    encoder: str,
    repeats: int,
) -> KindResult:
    spec = specification()
    values = [spec.decode(FRAME, d) for d in data]
    jsons = [checked_json(kind, d, v) for d, v in zip(data, values, strict=True)]

    def decode_ours() -> None:
        for d in data:
            decode_message_frame(d)

    def decode_ours_json() -> None:
        for d in data:
            decode_json(d)

    def decode_peer() -> None:
        for d in data:
            spec.decode(FRAME, d)

    def encode_ours_json() -> None:
        for j in jsons:
            encode_json(j)

    def encode_peer() -> None:
        for v in values:
            spec.encode(FRAME, v)

    times = best_times(
        (
            decode_ours,
            decode_ours_json,
            decode_peer,
            encode_ours or encode_ours_json,
            encode_ours_json,
            encode_peer,
        ),
        repeats,
    )
    n = len(data)
    rates = [n / t for t in times]
    return KindResult(
        kind=kind,
        frames=n,
        mean_bytes=sum(map(len, data)) / n,
        decode=Rates(rates[0], rates[1], rates[2]),
        encode=Rates(rates[3], rates[4], rates[5]),
        encoder=encoder,
    )


def checked_json(kind: str, data: bytes, value: Any) -> dict[str, Any]:
    """The JER value of ``data``, after checking that it encodes back to ``data``, that
    asn1tools reads it as ``value`` and that ours reads the same kind."""
    got_kind, json_value = decode_json(data)
    problems = []
    if got_kind != kind or decode_message_frame(data)[0] != kind:
        problems.append(f"read as {got_kind}")
    if encode_json(json_value) != data:
        problems.append("JSON round trip changed the bytes")
    if from_json(json_value) != value:
        problems.append("JSON value differs from asn1tools' value")
    if problems:
        raise FirmwareError(f"{kind} frame {data.hex()}: {'; '.join(problems)}: not benchmarked")
    return json_value


def format_result(result: V2xBenchResult) -> str:
    """The human-readable report of a run."""
    lines = [
        f"bench v2x: T/CSAE 53-2017 UPER, frames/s (best of {result.repeats} runs each); "
        "ratio = ours / plain asn1tools"
    ]
    for k in result.kinds:
        lines.append(f"  {k.kind}: {k.frames} frames, {k.mean_bytes:.1f} bytes on average")
        for what, rates, ours in (
            ("decode", k.decode, "decode_message_frame"),
            ("encode", k.encode, k.encoder),
        ):
            lines.append(
                f"    {what}: ours ({ours}) {rates.ours:,.0f}, "
                f"ours via JSON {rates.ours_json:,.0f}, asn1tools {rates.peer:,.0f}; "
                f"ratio {rates.ratio:.2f}x (JSON {rates.ours_json / rates.peer:.2f}x)"
            )
    apps = result.apps
    lines.append(
        f"  Day-1 application cycle ({apps.apps} applications, {apps.remotes} remote vehicles "
        f"heard, {apps.cycles} cycles): median {apps.median_ms:.2f} ms, "
        f"p99 {apps.p99_ms:.2f} ms (goal: under 5 ms); taking in one BSM "
        f"{apps.ingest_us_per_bsm:.0f} us"
    )
    return "\n".join(lines)
