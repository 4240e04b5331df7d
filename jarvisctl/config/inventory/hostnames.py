"""Host names as inventories write them: `web[01:03].example.com`, `db-[a:c]`, `badwolf:5309`."""

from __future__ import annotations

import re
import string


class HostNameError(ValueError):
    """A host entry that cannot be expanded; the message says what would be valid."""


# The most hosts one inventory may hold: `h[0:99999999]` must be refused, not expanded until
# memory runs out. A fleet this size is planned in seconds (10,000 hosts is the design's case).
MAX_HOSTS = 100_000
# Range bounds longer than this are refused before int() (which refuses over 4,300 digits).
_MAX_BOUND_DIGITS = 12
_RANGE = re.compile(r"\[([^\[\]]*)\]")


def expand_host_entry(entry: str, room: int = MAX_HOSTS) -> tuple[list[str], int | None]:
    """The host names an inventory entry stands for, and the port written after them, if any.

    An entry that stands for more than `room` hosts (what the inventory can still take) is
    refused before it is expanded.
    """
    name, port = split_port(entry.strip())
    if not name:
        raise HostNameError(f"empty host name in {entry!r}")
    count = count_hosts(name)
    if count > room:
        held = f"{MAX_HOSTS - room:,} already, " if room < MAX_HOSTS else ""
        raise HostNameError(
            f"{_short(name)} stands for {count:,} hosts: an inventory holds at most "
            f"{MAX_HOSTS:,} hosts ({held}each range counts its hosts)"
        )
    if "[" in name or "]" in name:
        return expand_ranges(name), port
    return [name], port


def count_hosts(name: str) -> int:
    """How many names `name` expands to, without expanding it (a wrong range counts as 1: its
    expansion reports what is wrong)."""
    count = 1
    for body in _RANGE.findall(name):
        bounds = body.split(":")
        if any(len(bound) > _MAX_BOUND_DIGITS for bound in bounds):
            raise HostNameError(
                f"{_short(name)}: a range bound is longer than {_MAX_BOUND_DIGITS} characters"
            )
        if len(bounds) in (2, 3):
            count *= _range_count(bounds[0] or "0", bounds[1], bounds[2] if bounds[2:] else "1")
    return count


def _short(name: str) -> str:
    return repr(name if len(name) <= 60 else f"{name[:60]}...")


def _range_count(begin: str, end: str, step: str) -> int:
    if not step.isdigit() or int(step) == 0:
        return 1
    if begin in string.ascii_letters and end in string.ascii_letters:
        first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        return len(range(first, last + 1, int(step))) or 1
    if begin.isdigit() and end.isdigit():
        return len(range(int(begin), int(end) + 1, int(step))) or 1
    return 1


def split_port(entry: str) -> tuple[str, int | None]:
    """Split `host:port` and `[ipv6]:port`; a bare IPv6 address keeps its colons."""
    if entry.startswith("[") and entry.endswith("]") and _is_ipv6(entry[1:-1]):
        return entry[1:-1], None
    if entry.startswith("[") and "]:" in entry and _is_ipv6(entry[1 : entry.index("]:")]):
        address, _, port = entry[1:].partition("]:")
        return address, _port_number(port, entry)
    colons = _top_level_colons(entry)
    if len(colons) != 1:
        return entry, None  # no port, or an IPv6 address
    name, port = entry[: colons[0]], entry[colons[0] + 1 :]
    return name, _port_number(port, entry)


def _is_ipv6(text: str) -> bool:
    return text.count(":") >= 2 and all(c in string.hexdigits + ":." for c in text)


def _top_level_colons(entry: str) -> list[int]:
    """Indexes of the colons outside `[...]` ranges (those inside separate range bounds)."""
    depth = 0
    found = []
    for index, char in enumerate(entry):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == ":" and depth == 0:
            found.append(index)
    return found


def _port_number(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise HostNameError(
            f"{entry!r}: the port after ':' must be a number from 1 to 65535, got {text!r}"
        )
    return int(text)


def expand_ranges(name: str) -> list[str]:
    """Expand every `[begin:end]` or `[begin:end:step]` range, numeric or alphabetic."""
    head, bracket, rest = name.partition("[")
    body, closing, tail = rest.partition("]")
    if not bracket or not closing or "[" in body:
        raise HostNameError(f"{name!r}: unbalanced '[' or ']' in host range")
    names: list[str] = []
    for item in _range_items(body, name):
        expanded = f"{head}{item}{tail}"
        names.extend(expand_ranges(expanded) if "[" in tail or "]" in tail else [expanded])
    return names


def _range_items(body: str, name: str) -> list[str]:
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise HostNameError(f"{name!r}: a host range is [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step = _step(bounds[2] if len(bounds) == 3 else "1", name)
    if not end:
        raise HostNameError(f"{name!r}: a host range needs an end value")
    if begin in string.ascii_letters and end in string.ascii_letters:
        first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if first > last:
            raise HostNameError(f"{name!r}: a host range must have begin <= end")
        return list(string.ascii_letters[first : last + 1 : step])
    if not (begin.isdigit() and end.isdigit()):
        raise HostNameError(f"{name!r}: range bounds must be numbers or single letters")
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and width != len(end):
        raise HostNameError(
            f"{name!r}: zero-padded range bounds must have the same width (e.g. [01:10])"
        )
    return [str(n).zfill(width) for n in range(int(begin), int(end) + 1, step)]


def _step(text: str, name: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise HostNameError(f"{name!r}: a range step must be a positive number, got {text!r}")
    return int(text)
