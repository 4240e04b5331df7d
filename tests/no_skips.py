"""With JARVIS_TEST_NO_SKIPS=1, a session that skipped a test fails.

A test skips when a tool it needs is missing (promtool, chromium, busybox, the Nagios plugins...).
scripts/test installs every one of them, so in CI (`.ci/run`, as root on a machine that ran
scripts/test) a skip means a feature that went untested: a tool missing from scripts/test's list,
or a test that depends on this machine. This turns it into a failure that names the tests.
"""

from __future__ import annotations

import os

import pytest

NO_SKIPS_VARIABLE = "JARVIS_TEST_NO_SKIPS"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get(NO_SKIPS_VARIABLE, "") in ("", "0"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if not skipped:
        return
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", f"{NO_SKIPS_VARIABLE}=1 and {len(skipped)} test(s) skipped")
        for report in skipped:
            reporter.write_line(f"SKIPPED {report.nodeid}: {report.longrepr}")
    if exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
