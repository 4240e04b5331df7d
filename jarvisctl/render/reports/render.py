"""Render a run document: Markdown and self-contained HTML through the Jinja2 templates in
render/reports/templates/; JSON by render/run_json.py (the serializer `run --json` uses too, as
render/schemas/run.schema.json says); JUnit XML built element by element
(jarvisctl.render.reports.junit).
Every output is passed through the redactor last, whatever the journal already scrubbed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from jarvisctl.core.errors import EXIT_OUTPUT, JarvisError
from jarvisctl.core.secrets import Redactor
from jarvisctl.render.reports.backup_entries import entry_text
from jarvisctl.render.reports.document import Point, RunDocument, perf_text, value_text
from jarvisctl.render.reports.junit import render_junit
from jarvisctl.render.reports.rollout_entries import TURNS
from jarvisctl.render.run_json import render_run_json

FORMATS = ("md", "html", "json", "junit")
EXTENSIONS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}
EXTENSIONS[".xml"] = "junit"


class ReportFormatError(JarvisError):
    """A report file whose format cannot be told from its name."""

    exit_code = EXIT_OUTPUT


def format_for(path: Path) -> str:
    """`--report FILE`: the format from the extension."""
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise ReportFormatError(f"cannot tell the report format of {str(path)!r} (known: {known})")
    return found


def render(document: RunDocument, fmt: str, redactor: Redactor | None = None) -> str:
    if fmt == "json":
        text = render_run_json(document)
    elif fmt == "junit":
        text = render_junit(document)
    else:
        template = _environment(fmt).get_template(f"report.{fmt}.j2")
        text = template.render(run=document, a=document.announcement, turns=TURNS)
    return redactor.text(text) if redactor else text


def _environment(fmt: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jarvisctl.render.reports", "templates"),
        autoescape=fmt == "html",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        when=_when,
        value=value_text,
        seconds=_seconds,
        md=_markdown_cell,
        spark=sparkline,
        trend=_trend,
        perf=perf_text,
        backup=entry_text,
    )
    return env


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _trend(history: Sequence[Point]) -> str:
    return " ".join("-" if p.value is None else f"{p.value:g}" for p in history)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _markdown_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def sparkline(history: Sequence[Point], width: int = 160, height: int = 32) -> dict[str, Any]:
    """Coordinates for an inline SVG of a check's recent values (no script, no assets)."""
    values = [p.value for p in history if p.value is not None]
    if not values:
        return {"points": "", "dots": [], "width": width, "height": height, "empty": True}
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 8) / max(1, len(history) - 1)
    dots = [
        {
            "x": round(4 + i * step, 1),
            "y": round(height - 4 - (p.value - low) / span * (height - 8), 1)
            if high > low
            else height / 2,
            "status": p.status,
            "title": f"{p.run_id}: {p.value:g} ({p.status})",
        }
        for i, p in enumerate(history)
        if p.value is not None
    ]
    points = " ".join(f"{d['x']},{d['y']}" for d in dots)
    return {
        "points": points,
        "dots": dots,
        "width": width,
        "height": height,
        "empty": False,
        "low": f"{low:g}",
        "high": f"{high:g}",
    }
