"""Perfdata read back from journal records: after a verified remediation the report shows the
verification's perfdata (beside its value), and a journal written before perfdata was kept,
or with a mangled item, still reads."""

from __future__ import annotations

from jarvisctl.core.events import CHECK, REMEDIATION
from jarvisctl.core.results import PerfDatum, perfdata_from_records
from jarvisctl.record.audit import Record, Verification
from jarvisctl.render.reports.document import build_document

BEFORE = PerfDatum("/", 95.0, "%", "80", "90", 0.0, 100.0)
AFTER = PerfDatum("/", 60.0, "%", "80", "90", 0.0, 100.0)


def record(seq: int, kind: str, data: dict[str, object]) -> Record:
    return Record(seq=seq, at=1.0, kind=kind, host="web1", play="p", data=data)


def test_a_verified_remediation_replaces_the_checks_perfdata() -> None:
    check = {"check": "disk", "value": 95.0, "status": "critical"}
    remediation = {
        "check": "disk",
        "use": "vacuum",
        "outcome": "verified",
        "verified_value": 60.0,
        "verified_status": "ok",
        "verified_perfdata": [AFTER.as_record()],
    }
    records = [
        record(1, CHECK, {**check, "perfdata": [BEFORE.as_record()]}),
        record(2, REMEDIATION, remediation),
    ]
    document = build_document(records, lambda: Verification("r", 2, "", complete=True))
    (section,) = document.hosts
    (entry,) = section.checks
    assert (entry.value, entry.status, entry.perfdata) == (60.0, "ok", (AFTER,))


def test_old_and_mangled_records_read_as_far_as_they_are_valid() -> None:
    assert perfdata_from_records(None) == ()
    assert perfdata_from_records("x") == ()
    items = [{"label": "a", "value": True, "min": "0", "uom": None}, 3, {"label": "b", "value": 2}]
    assert perfdata_from_records(items) == (PerfDatum("a", None), PerfDatum("b", 2.0))
