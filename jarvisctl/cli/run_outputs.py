"""`jarvisctl run --json --report FILE --metrics-file FILE`: outputs written from the run's
journal once it has finished (`--json` is the document `report --format json` gives). Their
paths are checked before the run, so a typo costs no run."""

from __future__ import annotations

import sys
from pathlib import Path

from jarvisctl.cli.outputs import (
    EXIT_OUTPUT,
    STDOUT,
    check_writable,
    fail,
    write_atomically,
)
from jarvisctl.config.project import Project
from jarvisctl.core.errors import JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues


@frozen
class RunOutputs:
    """What a run writes once it has finished: its report (`--report`), its metrics
    (`--metrics-file`) and its JSON document (`--json`)."""

    report: Path | None = None
    metrics: Path | None = None
    json: bool = False  # the run's JSON document on standard output

    def check(self) -> None:
        """Exit 6 now if an output could not be written later."""
        try:
            if self.report is not None:
                self.report_format()
                check_writable(self.report)
            if self.metrics is not None:
                from jarvisctl.render.metrics import metrics_source

                metrics_source(self.metrics)  # a name node_exporter reads, or refused now
                check_writable(self.metrics)
        except JarvisError as exc:
            fail(str(exc), EXIT_OUTPUT)

    def report_format(self) -> str:
        """From the file's extension; Markdown on standard output (`--report -`), as `report`
        prints by default."""
        if self.report is None or self.report == STDOUT:
            return "md"
        # imported here: only runs that write a report pay for the renderers (Jinja2)
        from jarvisctl.render.reports.render import format_for

        return format_for(self.report)

    def write(self, project: Project, run_id: str, secrets: SecretValues) -> None:
        """From the journal (redacted when written), redacted again with the run's secrets."""
        if self.report is None and self.metrics is None and not self.json:
            return
        from jarvisctl.app.queries import run_report

        try:
            # earlier runs' values only for a report that charts them (the JSON has none)
            document = run_report(project, run_id, history=self.report is not None)
            if self.json:  # on standard output, which redacts with `secrets` (report_errors)
                from jarvisctl.render.run_json import write_run_json

                write_run_json(document, sys.stdout)
            if self.report is not None:
                from jarvisctl.render.reports.render import render

                text = render(document, self.report_format())
                write_atomically(self.report, text, secrets)
            if self.metrics is not None:
                from jarvisctl.render.metrics import metrics_source, metrics_text

                text = metrics_text(document, metrics_source(self.metrics))
                write_atomically(self.metrics, text, secrets)
        except JarvisError as exc:
            fail(str(exc), EXIT_OUTPUT)
