"""An operator's regular expression searched in a host's output (a step's `changed_when`, a
`command` check's `regex`, an `http` check's `body_match`), bounded in time and size.

Python's `re` backtracks, has no timeout, and holds its thread until it is done: a pattern that
backtracks badly (the language refuses the nested repetitions that make it exponential, but
`.*.*.*x` is already polynomial) on a long, hostile output could hold a run for hours. So the
search runs in a matcher: a child Python process (`-I -S`: nothing of the environment or of
site-packages) that is killed once MATCH_SECONDS have passed, over the last SEARCHED_CHARS
characters of the output only; the pattern and the output travel on its stdin as one line of
JSON, never on its command line. A search that did not finish is neither a match nor a miss: the
caller is told why.

A matcher serves one search after another (starting a Python costs 10-60 ms of CPU; a search
over a few KiB, a fraction of a millisecond), so a controller keeps a few of them, started on
its first search and never at import. Hosts search from their own threads: each search takes an
idle matcher, or waits a moment (WAIT_FOR_IDLE) for a busy one, or starts one of its own, so a
search that backtracks for seconds holds only its own matcher. One that overruns its deadline is
killed and never reused. None outlives the controller: they are killed at interpreter exit; an
idle one ends when its stdin closes (the controller went away, even by SIGKILL), and a busy one
is ended by its own alarm (SIGALRM, default action) OWN_MARGIN after its caller's deadline."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from jarvisctl.core.frozen import frozen

SEARCHED_CHARS = 64 * 1024  # the tail of the output searched, in characters
MATCH_SECONDS = 3.0  # how long one search may take, a matcher's start included when it needs one
KEPT_MATCHERS = 4  # idle matchers kept for later searches (more run while more are searching)
WAIT_FOR_IDLE = 0.05  # seconds a search waits for a busy matcher before it starts one
OWN_MARGIN = 1.0  # seconds a matcher lets its alarm wait beyond its caller's deadline

# The matcher: one JSON line in (pattern, text, seconds), one JSON line out, until stdin ends.
# Its alarm keeps SIGALRM's default action (the process ends, even inside re's C loop).
_SERVE = """\
import json, re, signal, sys
signal.signal(signal.SIGALRM, signal.SIG_DFL)
read, out = sys.stdin.buffer.readline, sys.stdout.buffer
for line in iter(read, b''):
    asked = json.loads(line)
    signal.setitimer(signal.ITIMER_REAL, asked['seconds'])
    try:
        found = re.search(asked['pattern'], asked['text'], re.MULTILINE)
        told = {'found': None if found is None else [found[0], *found.groups()]}
    except Exception as exc:
        kind = type(exc)
        where = '' if kind.__module__ == 'builtins' else kind.__module__ + '.'
        told = {'failed': f'{where}{kind.__qualname__}: {exc}'}
    signal.setitimer(signal.ITIMER_REAL, 0)
    out.write(json.dumps(told).encode() + b'\\n')
    out.flush()
"""


@frozen
class Match:
    """What a bounded search found: the whole match and its groups' texts (None: a group that
    took no part in the match)."""

    text: str
    groups: tuple[str | None, ...] = ()


def search_bounded(pattern: str, output: str, seconds: float = MATCH_SECONDS) -> bool | str:
    """Whether `pattern` (re.MULTILINE) matches in the output's last SEARCHED_CHARS
    characters; or, when that could not be told, why (a text)."""
    found = match_bounded(pattern, output, seconds)
    return found if isinstance(found, str) else found is not None


def match_bounded(pattern: str, output: str, seconds: float = MATCH_SECONDS) -> Match | str | None:
    """The first match of `pattern` (re.MULTILINE) in the output's last SEARCHED_CHARS
    characters (None: no match); or, when that could not be told, why (a text)."""
    deadline = time.monotonic() + seconds
    asked = {"pattern": pattern, "text": output[-SEARCHED_CHARS:], "seconds": seconds + OWN_MARGIN}
    try:
        answer = _matchers().search(f"{json.dumps(asked)}\n".encode(), deadline)
    except OSError as exc:
        return f"(no process to match it in: {exc})"
    if answer is None:
        return f"within {seconds:g}s (a pattern that backtracks too much?)"
    if isinstance(answer, str):
        return f"(its matching process failed: {answer[:200]})"
    with contextlib.suppress(ValueError, TypeError, IndexError, KeyError):
        told = json.loads(answer)
        if "failed" in told:
            return f"(its matching process failed: {str(told['failed'])[:200]})"
        found = told["found"]
        return None if found is None else Match(str(found[0]), tuple(found[1:]))
    return f"(its matching process failed: an unreadable answer {answer[:80]!r})"


class _Matcher:
    """One matcher process, asked one search at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        self.served = 0  # searches answered
        self._stdin, self._stdout = _fd(self.process.stdin), _fd(self.process.stdout)
        os.set_blocking(self._stdin, False)  # a write must not outlast the deadline either

    def ask(self, request: bytes, deadline: float) -> bytes | None:
        """Its answer line, or None when the deadline came first; OSError or EOFError when
        the process went away."""
        view, sent = memoryview(request), 0
        while sent < len(view):
            if not _ready(self._stdin, select.POLLOUT, deadline):
                return None
            with contextlib.suppress(BlockingIOError):
                sent += os.write(self._stdin, view[sent:])
        chunks: list[bytes] = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            if not _ready(self._stdout, select.POLLIN, deadline):
                return None
            chunk = os.read(self._stdout, 1 << 16)
            if not chunk:
                raise EOFError("its output ended")
            chunks.append(chunk)
        return b"".join(chunks)

    def end(self) -> str:
        """Kill it (a no-op if it is gone) and reap it; how it ended."""
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)  # SIGKILL: at once, unless the kernel holds it
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        code = self.process.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"ended by {signal.Signals(-code).name}"
        return f"ended with exit status {code}"


def _fd(pipe: Any) -> int:
    assert pipe is not None  # both pipes were asked for
    return int(pipe.fileno())


def _ready(fd: int, event: int, deadline: float) -> bool:
    """Whether `fd` is ready for `event` (or in error, which the next read or write tells)
    before the deadline."""
    poller = select.poll()
    poller.register(fd, event)
    while (left := deadline - time.monotonic()) > 0:
        with contextlib.suppress(InterruptedError):
            if poller.poll(left * 1000 + 1):
                return True
    return False


class _Matchers:
    """This process's matchers: the idle ones, and every live one (to end them at exit)."""

    def __init__(self) -> None:
        self.pid = os.getpid()  # a forked child makes its own: these pipes are not its own
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._idle: list[_Matcher] = []
        self._live: set[_Matcher] = set()
        self._open = True

    def search(self, request: bytes, deadline: float) -> bytes | str | None:
        """A matcher's answer line; None when the deadline came first; a text when the
        matcher failed. A matcher reused from an earlier search that is found gone is
        replaced once: the search is asked again of a new one."""
        while True:
            matcher = self._take()
            try:
                answer = matcher.ask(request, deadline)
            except (OSError, EOFError) as exc:
                how = self._end(matcher)
                if matcher.served:
                    continue
                return f"{exc}; {how}" if isinstance(exc, OSError) else how
            if answer is None:
                self._end(matcher)  # it may be backtracking still: never reused
                return None
            matcher.served += 1
            self._give_back(matcher)
            return answer

    def _take(self) -> _Matcher:
        with self._lock:
            if not self._idle and self._live:  # all busy: one may be free in a moment
                self._freed.wait_for(lambda: bool(self._idle), WAIT_FOR_IDLE)
            if self._idle:
                return self._idle.pop()
        matcher = _Matcher()  # outside the lock: starting it takes milliseconds
        with self._lock:
            self._live.add(matcher)
        return matcher

    def _give_back(self, matcher: _Matcher) -> None:
        with self._lock:
            if self._open and len(self._idle) < KEPT_MATCHERS:
                self._idle.append(matcher)
                self._freed.notify()
                return
        self._end(matcher)

    def _end(self, matcher: _Matcher) -> str:
        with self._lock:
            self._live.discard(matcher)
        return matcher.end()

    def close(self) -> None:
        """End every matcher (at interpreter exit); a search after this ends its own."""
        if os.getpid() != self.pid:  # atexit in a forked child: these are its parent's
            return
        with self._lock:
            self._open = False
            ending, self._idle, self._live = list(self._live), [], set()
        for matcher in ending:
            matcher.end()


_POOL: _Matchers | None = None  # this process's matchers, made by its first search
_POOL_LOCK = threading.Lock()


def _matchers() -> _Matchers:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():
            _POOL = _Matchers()
            atexit.register(_POOL.close)
        return _POOL
