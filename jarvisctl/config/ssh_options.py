"""The values OpenSSH accepts for the ssh_config keywords it checks: one table, read both by the
inventory's ssh arguments (config stage) and by the ssh_config files (connection stage)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_TIME_PART = re.compile(r"(\d+)([smhdw]?)", re.IGNORECASE)
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_YES_NO = {"yes": True, "true": True, "no": False, "false": False}


def parse_time(text: str) -> int | None:
    """Seconds, from a time as OpenSSH writes one (`30`, `1m30s`, `2h`); None if it is not."""
    parts = _TIME_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(number) * _TIME_UNITS[unit.lower()] for number, unit in parts)


def parse_port(text: str) -> int | None:
    """A port number from 1 to 65535; None if it is not."""
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def parse_yes_no(text: str) -> bool | None:
    """OpenSSH's flag spellings (yes/true, no/false, any case); None if it is not one."""
    return _YES_NO.get(text.lower())


_TIME = "seconds (`30`) or a time with units (`1m30s`)"
# The keywords whose values OpenSSH checks: how to read one (None when it is not valid), and
# what to write instead. The ssh_config files (connection/ssh_config.py) and the inventory's ssh
# arguments (config/inventory/ssh_args.py) are checked by this one table.
CHECKED: Mapping[str, tuple[Callable[[str], object], str]] = {
    "Port": (parse_port, "a port number from 1 to 65535"),
    "IdentitiesOnly": (parse_yes_no, "yes or no"),
    "HashKnownHosts": (parse_yes_no, "yes or no"),
    "ConnectTimeout": (parse_time, _TIME),
    "ServerAliveInterval": (parse_time, _TIME),
}
