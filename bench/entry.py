"""What every benchmark's `main` does around its measurement: re-render the README from saved
results instead of measuring (`--render FILE`), refuse plainly where no sshd fleet can start,
stop the fleet on SIGTERM, and write a result document with its UTC stamp."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.fleet import sshd_unavailable_reason


def begin(
    render_file: Path | None,
    readme: Path,
    render: Callable[[dict[str, Any]], str],
    update_readme: Callable[[Path, str], None],
) -> int | None:
    """An exit code to return now (re-rendered, or no sshd), or None: go on and measure."""
    if render_file is not None:
        update_readme(readme, render(json.loads(render_file.read_text())))
        return 0
    reason = sshd_unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the fleet is stopped
    return None


def write_result(result: dict[str, Any], results: Path, name: str) -> Path:
    """results/<name>-<UTC stamp>.json, also printed; the path goes to stderr."""
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = results / f"{name}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written: {path}", file=sys.stderr)
    return path


def stamp_end(doc: dict[str, Any]) -> None:
    """The load average and the UTC time as the measurement ends (a report shows the load)."""
    doc["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    doc["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")


def publish(
    doc: dict[str, Any],
    results: Path,
    readme: Path | None,
    render: Callable[[dict[str, Any]], str],
    update_readme: Callable[[Path, str], None],
) -> Path:
    """`doc` saved as results/<its results_file> (the path goes to stderr), its table printed,
    and the README's table replaced by it (readme None: the README is left alone)."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / Path(doc["results_file"]).name
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results: {path}", file=sys.stderr)
    table = render(doc)
    print(table)
    if readme is not None:
        update_readme(readme, table)
    return path
