"""`jarvisctl run` for people: a line per host as it finishes, then the recap."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import click

from jarvisctl.core.results import (
    CUT_SHORT,
    RECAP_COLUMNS,
    Attempt,
    BackupNote,
    CheckResult,
    HostRun,
    Outcome,
    RunReport,
    Status,
    StepNote,
    StepOutcome,
)
from jarvisctl.engine.evaluate import SEVERITY

if TYPE_CHECKING:
    from jarvisctl.render.reports.rollout_entries import HostTurn

# the colour (and boldness) of each word a host's line can say, on a terminal
COLOURS: dict[str, tuple[str, bool]] = {
    "ok": ("green", False),
    "warning": ("yellow", False),
    "critical": ("red", True),
    "unknown": ("magenta", False),
    "changed": ("yellow", False),
    "failed": ("red", True),
    "unreachable": ("red", True),
    "skipped": ("cyan", False),
    "interrupted": ("yellow", True),
    "would change": ("yellow", False),
}


def progress_line(run: HostRun, colour: bool = False) -> str:
    """A host's line as it finishes: its worst status (or how its session ended), its checks
    counted by status, its seconds; the status coloured when `colour`."""
    word = host_status(run)
    head = f"{run.host}  [{run.play}]  {paint(word, colour)}"
    if run.outcome is Outcome.CHANGED and word != Outcome.CHANGED.value:
        head += " (changed)"  # a remediation ran; the status is what its verification found
    if run.outcome in CUT_SHORT:
        return f"{head}  {first_line(run.error)}"
    counts = run.counts()
    parts = [f"{counts[s]} {s.value}" for s in Status if counts[s]]
    checks = f"{len(run.checks)} checks: {', '.join(parts) or 'none'}"
    return f"{head}  {checks}{steps_counted(run.steps)}  {run.duration:.2f}s"


def steps_counted(notes: Sequence[StepNote]) -> str:
    """`; 3 steps: 1 changed, 2 ok` (in StepOutcome's order), or nothing without steps."""
    if not notes:
        return ""
    counts = Counter(n.outcome for n in notes)
    parts = [f"{counts[o]} {o.value}" for o in StepOutcome if counts[o]]
    return f"; {len(notes)} step{'s' if len(notes) > 1 else ''}: {', '.join(parts)}"


def host_status(run: HostRun) -> str:
    """What a host's line says: for a session that ran its checks, the worst of their statuses
    (a host whose checks are CRITICAL is not OK); otherwise how the session ended."""
    if run.outcome not in (Outcome.OK, Outcome.CHANGED) or not run.checks:
        return run.outcome.value
    return max((c.status for c in run.checks), key=SEVERITY.__getitem__).value


def paint(word: str, colour: bool) -> str:
    """`word` in capitals, in its status colour when `colour` (a word without one is plain)."""
    fg, bold = COLOURS.get(word, ("", False))
    return click.style(word.upper(), fg=fg, bold=bold or None) if colour and fg else word.upper()


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def render_recap(report: RunReport, colour: bool = False) -> str:
    """The recap; with `colour`, the statuses of the checks that are not OK in their colours."""
    return "\n".join(_recap_lines(report, colour)) + "\n"


def _recap_lines(report: RunReport, colour: bool) -> Iterator[str]:
    title = "CHECK MODE RECAP" if report.mode == "check" else "RECAP"
    yield f"{title}  run {report.run_id}" + ("  (interrupted)" if report.interrupted else "")
    rows = report.recap()
    width = max([len("host"), *(len(h) for h in rows)])
    yield f"  {'host':<{width}}  " + "  ".join(f"{c:>{len(c)}}" for c in RECAP_COLUMNS)
    # sessions cut short are counted per host and explained below the table (a host with only
    # zeros would look fine)
    for host, counts in rows.items():
        yield f"  {host:<{width}}  " + "  ".join(f"{counts[c]:>{len(c)}}" for c in RECAP_COLUMNS)
    yield from _rollout_lines(report)
    failing = report.failing_checks()
    if failing:
        yield ""
        yield "NOT OK"
        for run, check in failing:
            status = paint(check.status.value, colour)
            yield f"  {run.host}  {check.name}: {status}  {_why(check)}"
    problems = [h for h in report.hosts if h.error and h.outcome is not Outcome.SKIPPED]
    if problems:
        yield ""
        yield "HOST ERRORS"
        for run in problems:
            yield f"  {run.host}  {run.outcome.value}: {run.error.strip()}"
    yield from _skipped_lines(report)
    notes = [(h, n) for h in report.hosts for n in h.remediations]
    if notes:
        yield ""
        yield "REMEDIATIONS"
        for run, note in notes:
            yield (
                f"  {run.host}  {note.check} -> {note.rung}. {note.use}: "
                f"{note.outcome.value} ({note.reason})"
            )
            if note.outcome is Attempt.WOULD_RUN:
                for command in note.commands:
                    yield f"      $ {command}"
    steps = [(h, n) for h in report.hosts for n in h.steps]
    if steps:
        yield ""
        yield "STEPS"
        for run, done in steps:
            yield f"  {run.host}  {step_text(done, colour)}"
    backups = [(h, b) for h in report.hosts for b in h.backups]
    if backups:
        yield ""
        yield "BACKUPS"
        for run, backup in backups:
            yield f"  {run.host}  {backup.name} -> {backup.store}: {backup_text(backup, colour)}"


def step_text(note: StepNote, colour: bool = False) -> str:
    """A step's line: `task 2 'restart app': CHANGED  applied and verified (attempt 2)`."""
    word = paint(note.outcome.value, colour)
    return f"{note.phase} {note.index + 1} {note.name!r}: {word}  {first_line(note.reason)}"


def backup_text(backup: BackupNote, colour: bool = False) -> str:
    """A backup's line: `taken 12.0 MiB (3.1 MiB stored), 120 files, 2.31s, verified (restore),
    pruned 2, snapshot ID`; or how it failed, was interrupted or skipped, and why."""
    if backup.outcome != "taken" and backup.snapshot is None:
        word = paint("failed" if backup.failed else backup.outcome, colour)
        stage = f" at {backup.stage}" if backup.failed and backup.stage else ""
        return f"{word}{stage}: {first_line(backup.reason)}"
    from jarvisctl.render.reports.backup_entries import size_text  # a run with backups alone

    parts = [
        f"taken {size_text(backup.bytes)} ({size_text(backup.stored_bytes)} stored)",
        f"{backup.files} files",
        f"{backup.seconds:.2f}s",
    ]
    if backup.verified is not None:
        parts.append(f"{'verified' if backup.verified else 'NOT verified'} ({backup.verify})")
    if backup.pruned is not None:
        parts.append(f"pruned {backup.pruned}")
    parts.append(f"snapshot {backup.snapshot}")
    line = ", ".join(parts)
    if backup.failed:
        return f"{paint('failed', colour)} at {backup.stage}: {first_line(backup.reason)}; {line}"
    return f"{line}; {first_line(backup.reason)}" if backup.reason else line  # a warning


SKIPPED_SHOWN = 20  # hosts named per reason; a stopped run over a large fleet skips many


def _skipped_lines(report: RunReport) -> Iterator[str]:
    """The hosts the run did not work on, grouped by why."""
    reasons: dict[str, list[str]] = {}
    for run in report.hosts:
        if run.outcome is Outcome.SKIPPED:
            reasons.setdefault(first_line(run.error), []).append(f"{run.host} [{run.play}]")
    if not reasons:
        return
    yield ""
    yield "SKIPPED (not checked)"
    for reason, hosts in reasons.items():
        more = len(hosts) - SKIPPED_SHOWN
        named = ", ".join(hosts[:SKIPPED_SHOWN]) + (f" and {more} more" if more > 0 else "")
        yield f"  {named}: {reason}"


def _rollout_lines(report: RunReport) -> Iterator[str]:
    """A line per rollout: its hosts counted by how their turn ended."""
    if all(run.rollout is None for run in report.hosts):
        return
    from jarvisctl.render.reports.rollout_entries import rollout_entries  # a rollout's run alone

    entries = rollout_entries(_turn(run) for run in report.hosts)
    yield ""
    yield "ROLLOUTS"
    for entry in entries:
        # check mode records no rollout: its id says nothing
        name = "(check mode, not recorded)" if report.mode == "check" else entry.rollout
        yield f"  {name}  [{entry.play}]  {entry.counts_text}"


def _turn(run: HostRun) -> HostTurn:
    from jarvisctl.render.reports.rollout_entries import HostTurn

    if run.rollout is None:
        return HostTurn(run.play)
    return HostTurn(run.play, run.rollout.rollout, run.rollout.turn.value)


def _why(check: CheckResult) -> str:
    if check.reason:
        return check.reason
    return "" if check.value is None else f"value {check.value:g}{check.unit}"
