"""Every Day-1 application by its code, with its settings type: what a box config can enable
and tune (``[apps]``), and what the README lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.apps.day1.findings import Day1App


@dataclass(frozen=True)
class AppSpec:
    """``code`` (``"FCW"``), a readable ``name``, its settings dataclass (every field has a
    documented default) and how to build it from settings."""

    code: str
    name: str
    settings_type: type[Any]
    build: Callable[[Any], Day1App]


def _specs() -> dict[str, AppSpec]:
    # Imported here: each application module imports this package's shared parts.
    from edge.apps.day1 import (
        avw,
        bsw,
        clw,
        dnpw,
        ebw,
        evw,
        fcw,
        glosa,
        hlw,
        icw,
        ivs,
        lta,
        rlvw,
        slw,
        tjw,
        vrucw,
    )

    modules = (fcw, icw, lta, bsw, dnpw, ebw, avw, clw, hlw, slw, rlvw, vrucw, glosa, ivs, tjw, evw)
    return {module.SPEC.code: module.SPEC for module in modules}


def app_specs() -> Mapping[str, AppSpec]:
    """Code -> spec of every application, in the order of T/CSAE 53-2017's table."""
    return _specs()


def build_apps(settings: Mapping[str, Any]) -> list[Day1App]:
    """The applications whose codes ``settings`` names, each built with its settings."""
    specs = app_specs()
    return [specs[code].build(value) for code, value in settings.items()]
