"""Native collectors for the Jetson kinds on the controller's own board, through jetson-stats.

jtop talks to the jtop service; when the package or the service is missing (any machine that is
not a Jetson with jetson-stats set up), collection raises NativeUnavailable and the check falls
back to its sysfs command, with that reason recorded. Values go through the same helpers as the
command's parse, so native and shell readings agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jarvisctl.kinds.base import NativeUnavailable, ParseError
from jarvisctl.kinds.jetson_readings import input_power, zone_key


def read_jtop(read: Callable[[Any], float], root: str) -> float:
    """Open jtop, apply `read` to it, close it; NativeUnavailable with the reason otherwise."""
    if root:
        raise NativeUnavailable("a sysfs root is given: the command reads that tree")
    try:
        from jtop import JtopException, jtop
    except ImportError:
        raise NativeUnavailable("jetson-stats (jtop) is not installed") from None
    try:
        with jtop() as jetson:
            if not jetson.ok():
                raise NativeUnavailable("jtop answered but has no reading yet")
            return read(jetson)
    except JtopException as exc:
        raise NativeUnavailable(f"jtop: {exc}") from None


def temperature(zone: str) -> Callable[[Any], float]:
    def read(jetson: Any) -> float:
        sensors: Mapping[str, Mapping[str, Any]] = jetson.temperature
        wanted = zone_key(zone)
        for name, sensor in sensors.items():
            if name == zone or zone_key(name) == wanted:
                if not sensor.get("online", True):
                    raise ParseError(f"sensor {name} offline")
                return float(sensor["temp"])
        raise ParseError(f"no thermal zone {zone!r} in jtop (found: {', '.join(sensors)})")

    return read


def gpu_load(jetson: Any) -> float:
    gpus: Mapping[str, Mapping[str, Any]] = jetson.gpu
    if not gpus:
        raise ParseError("jtop reports no GPU")
    first = next(iter(gpus.values()))
    return float(first["status"]["load"])


def power(rail: str) -> Callable[[Any], float]:
    def read(jetson: Any) -> float:
        rails = {name: float(v["power"]) for name, v in jetson.power.get("rail", {}).items()}
        if rail or not jetson.power.get("tot"):
            return input_power(rails, rail)
        return float(jetson.power["tot"]["power"])

    return read
