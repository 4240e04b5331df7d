"""Import paramiko without Invoke.

paramiko.config imports Invoke when it is imported, only to run the `Match exec` lines of
ssh_config files; Invoke imports unittest.mock, hence asyncio and ssl: ~35 ms of every run's
start, before its first host. jarvisctl imports paramiko with Invoke held back, and gives it
Invoke only when an ssh_config file has a `Match exec` line (`allow_match_exec`).

paramiko's transport threads log every failed handshake ("Exception (client): Error reading SSH
protocol banner" and a traceback) through the `paramiko` logger; with no handler configured
(neither the CLI nor the daemon configures one for it), Python's last-resort handler prints them
on stderr, beside the located unreachable message jarvisctl already gives for the same failure.
The exception reaches us and is reported once, located: its log lines are dropped here.
"""

from __future__ import annotations

import logging
import sys
import threading

_lock = threading.Lock()


def load_paramiko() -> None:
    """Import paramiko, unless it is already (then as it was imported), with its logs
    silenced."""
    with _lock:
        _silence_paramiko_logs()
        if "paramiko" in sys.modules:
            return
        held = "invoke" not in sys.modules
        if held:
            sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` fails
        try:
            import paramiko  # noqa: F401
        finally:
            if held and sys.modules.get("invoke", 0) is None:
                del sys.modules["invoke"]


def _silence_paramiko_logs() -> None:
    logger = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())  # so that the last-resort handler is not used
    logger.propagate = False  # nor a handler on the root logger, whoever adds one


def allow_match_exec() -> None:
    """Give paramiko.config the Invoke it runs `Match exec` commands with."""
    import paramiko.config

    if getattr(paramiko.config, "invoke", None) is None:
        import invoke

        paramiko.config.invoke = invoke
