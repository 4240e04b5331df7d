"""Waiting for one descriptor with poll(2), not select(2): select cannot watch a descriptor
numbered 1024 or more (FD_SETSIZE), which a controller holding hundreds of SSH connections,
each channel with its own pipe, soon has (`ValueError: filedescriptor out of range in
select()` at 500 hosts with one worker each)."""

from __future__ import annotations

import math
import select
from typing import Any


def ready(fileobj: Any, timeout: float, *, write: bool = False) -> bool:
    """Whether `fileobj` (a fileno() or an int) became readable (writable) within `timeout`
    seconds; an error or a hang-up counts as ready, as select's would."""
    poller = select.poll()
    poller.register(fileobj, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(max(0, math.ceil(timeout * 1000))))
