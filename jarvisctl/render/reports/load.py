"""Find a run, verify its journal, and rebuild it as a document with each check's history."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.core.events import CHECK
from jarvisctl.record.audit import (
    JournalError,
    JournalReader,
    Verification,
    iter_records,
    journal_path,
    open_journal,
    verify_journal,
)
from jarvisctl.record.history import UnknownRunError, find_run, list_runs
from jarvisctl.render.reports.document import Point, RunDocument, build_document, with_history
from jarvisctl.store.factory import open_store
from jarvisctl.store.runs import RunEntry

HISTORY_RUNS = 20  # earlier runs shown in each check's chart
# How a check record's kind reads in a journal line (record.audit.encode: sorted keys, compact);
# only such lines are parsed for history: the others, command output tails above all, are most
# of a journal, and a run writing its report (`run --report`) reads twenty of them.
CHECK_KIND = b'"kind":"check"'


class CorruptJournalError(JournalError):
    """A journal that fails verification: reports refuse to present it as the truth."""


def locate_run(state_dir: Path, wanted: str) -> tuple[str, tuple[int, str] | None]:
    """The run id and its sealed anchor; a journal without an index entry is still found."""
    store = open_store(state_dir, readonly=True)
    try:
        entry: RunEntry | None = find_run(store, wanted)
    except UnknownRunError:
        if not journal_path(state_dir, wanted).is_file():
            raise
        entry = None
    return (entry.run_id, entry.anchor) if entry else (wanted, None)


def verify_run(state_dir: Path, wanted: str) -> tuple[Verification, Path]:
    run_id, anchor = locate_run(state_dir, wanted)
    path = journal_path(state_dir, run_id)
    return verify_journal(path, run_id, anchor), path


def load_document(state_dir: Path, wanted: str, history: int = HISTORY_RUNS) -> RunDocument:
    run_id, anchor = locate_run(state_dir, wanted)
    path = journal_path(state_dir, run_id)
    with open_journal(path) as lines:
        reader = JournalReader(run_id, lines, anchor)
        document = build_document(reader, lambda: reader.verification)
    verification = document.verification
    if not verification.intact:
        raise CorruptJournalError(
            f"the audit journal {path} fails verification: {verification.problem} "
            f"(see `jarvisctl audit verify {run_id}`)"
        )
    if history <= 0:  # the JSON and metrics, which chart nothing: no check history at all
        return document
    return with_history(document, _earlier_points(state_dir, document, history))


def _earlier_points(
    state_dir: Path, document: RunDocument, limit: int
) -> dict[tuple[str, str, str], list[Point]]:
    """Check values from the journals of the `limit` latest earlier runs on the same hosts."""
    hosts = {h.host for h in document.hosts}
    earlier = [
        entry
        for entry in list_runs(open_store(state_dir, readonly=True), limit=limit * 5 + 50)
        if entry.run_id != document.run_id
        and entry.started <= document.started_at
        and hosts & set(entry.hosts)
    ][:limit]
    points: dict[tuple[str, str, str], list[Point]] = {}
    for entry in reversed(earlier):  # oldest first
        try:
            content = journal_path(state_dir, entry.run_id).read_bytes()
        except OSError:
            continue  # a pruned journal: its run simply has no points
        for record in iter_records(_check_lines(content)):
            if record.kind == CHECK and record.host in hosts:
                key = (record.host, record.play or "", str(record.data.get("check")))
                value = record.data.get("value")
                status = str(record.data.get("status", "unknown"))
                points.setdefault(key, []).append(Point(entry.run_id, record.at, value, status))
    return points


def _check_lines(content: bytes) -> bytes:
    """The journal's lines that may be check records (the parse decides), each ending in \\n."""
    return b"".join(line + b"\n" for line in content.split(b"\n")[:-1] if CHECK_KIND in line)
