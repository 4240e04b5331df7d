"""Import paramiko without Invoke.

paramiko.config imports Invoke when it is imported, only to run the `Match exec` lines of
ssh_config files; Invoke imports unittest.mock, hence asyncio and ssl: ~35 ms of every run's
start, before its first host. jarvisctl imports paramiko with Invoke held back, and gives it
Invoke only when an ssh_config file has a `Match exec` line (`allow_match_exec`).
"""

from __future__ import annotations

import sys
import threading

_lock = threading.Lock()


def load_paramiko() -> None:
    """Import paramiko, unless it is already (then as it was imported)."""
    with _lock:
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


def allow_match_exec() -> None:
    """Give paramiko.config the Invoke it runs `Match exec` commands with."""
    import paramiko.config

    if getattr(paramiko.config, "invoke", None) is None:
        import invoke

        paramiko.config.invoke = invoke
