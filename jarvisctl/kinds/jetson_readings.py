"""What a Jetson's readings mean, shared by the sysfs commands' parse (jetson.py) and the native
jetson-stats collectors (jetson_native.py), so that native and shell readings agree."""

from __future__ import annotations

import re
from collections.abc import Mapping

from jarvisctl.kinds.base import ParseError

INPUT_RAILS = ("VDD_IN", "POM_5V_IN")  # the module's input rail: Orin/Xavier NX, Nano/TX2


def zone_key(name: str) -> str:
    """A zone type without case and without the -therm/-thermal suffix: GPU-therm -> gpu."""
    return re.sub(r"[-_]therm(al)?$", "", name.strip().lower())


def input_power(rails: Mapping[str, float], rail: str = "") -> float:
    """A named rail; else the module input rail; else (AGX Xavier/Orin) the sum of all rails."""
    if not rails:
        raise ParseError("no power rails found")
    if rail:
        if rail not in rails:
            raise ParseError(f"no power rail {rail!r} (found: {', '.join(rails)})")
        return rails[rail]
    for name in INPUT_RAILS:
        if name in rails:
            return rails[name]
    return round(sum(rails.values()), 3)
