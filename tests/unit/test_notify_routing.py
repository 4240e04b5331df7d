"""Route matching as Alertmanager does it, from `notify:` text through the real loader: the
first matching child wins unless it says `continue`, a node no child of which matches takes the
alert, settings are inherited. The trees are written so that Alertmanager itself reads them too
(tests/integration/test_notify_routes_amtool.py asks `amtool` about every case here).

Then muting: inhibition, maintenance windows and silences."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jarvisctl.config.notify import notify_policy
from jarvisctl.config.project import load_project
from jarvisctl.core.alert_routes import (
    DEFAULT_INHIBIT_RULES,
    InhibitRule,
    MaintenanceWindow,
    NotifyPolicy,
    Route,
)
from jarvisctl.core.alerts import Labels, Silence, parse_matcher
from jarvisctl.notify.muting import inhibited_by, silenced_by, window_active, windows_muting
from jarvisctl.notify.routing import group_key, group_labels, matching_routes, receivers_for

# Alertmanager's configuration documentation's example tree (without its time intervals).
AM_DOCS = """\
route:
  receiver: default-receiver
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  group_by: [cluster, alertname]
  routes:
    - receiver: database-pager
      group_wait: 10s
      matchers: ['service=~"mysql|cassandra"']
    - receiver: frontend-pager
      group_by: [product, environment]
      matchers: ['team="frontend"']
    - receiver: dev-pager
      matchers: ['service="inhouse-service"']
      continue: true
    - receiver: on-call-pager
      matchers: ['service="inhouse-service"']
"""
NESTED = """\
route:
  receiver: a
  routes:
    - {receiver: b, matchers: ['x="1"'], continue: true}
    - {receiver: b, match: {y: "1"}}
    - receiver: c
      matchers: ['z!~"a.*"']
      routes:
        - {receiver: d, matchers: ['w="1"']}
        - {receiver: e, matchers: ['w!="1"', 'v=~".+"'], continue: true}
        - {receiver: f, matchers: ['v="2"']}
"""
SEVERITIES = """\
route:
  receiver: ops
  group_by: [host, check]
  routes:
    - {match: {severity: critical}, receiver: oncall}
    - matchers: ['team="vision"', 'severity!="unknown"']
      receiver: vision
      routes:
        - {matchers: ['host=~"jetson-0[1-4]"'], receiver: lab}
"""
TREES = {"am_docs": AM_DOCS, "nested": NESTED, "severities": SEVERITIES}

# (tree, labels, receivers in order)
CASES = [
    ("am_docs", {"service": "inhouse-service"}, ["dev-pager", "on-call-pager"]),
    ("am_docs", {"service": "mysql"}, ["database-pager"]),
    ("am_docs", {"service": "cassandra", "team": "frontend"}, ["database-pager"]),
    ("am_docs", {"team": "frontend", "service": "web"}, ["frontend-pager"]),
    ("am_docs", {"service": "mysql2"}, ["default-receiver"]),  # regexes are anchored
    ("am_docs", {"service": "my"}, ["default-receiver"]),
    ("am_docs", {"alertname": "disk"}, ["default-receiver"]),
    ("nested", {"x": "1", "y": "1"}, ["b", "b"]),  # two routes, two groups: twice
    ("nested", {"x": "1"}, ["b", "c"]),  # continue, then z is missing: "" !~ a.*
    ("nested", {"x": "1", "z": "a"}, ["b"]),
    ("nested", {"z": "abc"}, ["a"]),
    ("nested", {"z": "b"}, ["c"]),  # no child of c matches: c takes it
    ("nested", {"w": "1"}, ["d"]),
    ("nested", {"w": "1", "v": "2"}, ["d"]),
    ("nested", {"v": "2"}, ["e", "f"]),
    ("nested", {"v": "3"}, ["e"]),
    ("nested", {"z": "a", "v": "2"}, ["a"]),
    ("severities", {"severity": "critical", "team": "vision"}, ["oncall"]),
    ("severities", {"severity": "warning", "team": "vision"}, ["vision"]),
    ("severities", {"severity": "unknown", "team": "vision"}, ["ops"]),
    ("severities", {"severity": "warning", "team": "vision", "host": "jetson-03"}, ["lab"]),
    ("severities", {"severity": "warning", "team": "vision", "host": "jetson-05"}, ["vision"]),
    ("severities", {"severity": "warning"}, ["ops"]),
]


def policy_of(tmp_path: Path, tree: str) -> NotifyPolicy:
    """The policy the real loader makes of a route tree (each receiver a webhook)."""
    names = sorted(set(_receiver_names(tree)))
    body = "".join(f"    {n}: {{webhook: {{url: 'http://127.0.0.1:9/{n}'}}}}\n" for n in names)
    text = "notify:\n  receivers:\n" + body + textwrap.indent(tree, "  ")
    (tmp_path / "jarvisctl.yml").write_text(text)
    settings = load_project(tmp_path / "jarvisctl.yml").notify
    assert settings is not None
    return notify_policy(settings)


def _receiver_names(tree: str) -> list[str]:
    import yaml

    def walk(route: dict[str, object]) -> list[str]:
        found = [str(route["receiver"])] if "receiver" in route else []
        for child in route.get("routes", []) or []:  # type: ignore[attr-defined]
            found += walk(child)
        return found

    return walk(yaml.safe_load(tree)["route"])


@pytest.mark.parametrize(("tree", "labels", "expected"), CASES)
def test_receivers_of_an_alert(
    tmp_path: Path, tree: str, labels: dict[str, str], expected: list[str]
) -> None:
    route = policy_of(tmp_path, TREES[tree]).route
    assert list(receivers_for(route, labels)) == expected


def test_each_taking_node_brings_its_own_inherited_settings(tmp_path: Path) -> None:
    route = policy_of(tmp_path, AM_DOCS).route
    (database,) = matching_routes(route, {"service": "mysql", "cluster": "eu", "alertname": "x"})
    assert database.path == "0" and database.group_wait == 10.0
    assert database.group_by == ("cluster", "alertname")  # the root's
    assert (database.group_interval, database.repeat_interval) == (300.0, 14400.0)
    (frontend,) = matching_routes(route, {"team": "frontend"})
    assert frontend.group_by == ("product", "environment") and frontend.group_wait == 30.0
    dev, oncall = matching_routes(route, {"service": "inhouse-service"})
    assert (dev.path, oncall.path) == ("2", "3")


def test_a_child_whose_own_matchers_fail_takes_nothing() -> None:
    child = Route("child", matchers=(parse_matcher("a=1"),))
    assert matching_routes(child, {"a": "2"}) == ()
    assert matching_routes(Route("root", routes=(child,)), {"a": "2"})[0].receiver == "root"


def test_group_labels_and_keys() -> None:
    labels = Labels({"alertname": "disk", "host": "h1", "check": "disk", "severity": "warning"})
    by_host = Route("ops", group_by=("host", "cluster"), path="1.0")
    assert group_labels(by_host, labels) == {"host": "h1"}  # a label the alert lacks: left out
    assert group_key(by_host, labels) == '1.0:{host="h1"}'
    every = Route("ops", group_by=("...",))
    assert group_labels(every, labels) == labels
    assert group_key(Route("ops"), labels) == "root:{}"  # no group_by: one group for all
    # values that look like the key's own punctuation cannot make two groups one
    tricky = Route("ops", group_by=("a", "b"))
    assert group_key(tricky, {"a": 'x",b="y'}) != group_key(tricky, {"a": "x", "b": "y"})


# --- muting ------------------------------------------------------------------------------

UNREACHABLE = Labels({"alertname": "host unreachable", "host": "h1", "severity": "critical"})
DISK_H1 = Labels({"alertname": "disk", "check": "disk", "host": "h1", "severity": "critical"})
DISK_H2 = Labels({**DISK_H1, "host": "h2"})


def test_an_unreachable_host_inhibits_its_own_check_alerts_by_default() -> None:
    rules = DEFAULT_INHIBIT_RULES
    assert inhibited_by(DISK_H1, [UNREACHABLE, DISK_H2], rules) == UNREACHABLE
    assert inhibited_by(DISK_H2, [UNREACHABLE], rules) is None  # another host
    assert inhibited_by(UNREACHABLE, [UNREACHABLE], rules) is None  # not itself
    assert inhibited_by(DISK_H1, [], rules) is None
    assert inhibited_by(DISK_H1, [UNREACHABLE], ()) is None  # `inhibit: []`


def test_a_configured_rule_with_equal_labels() -> None:
    critical_mutes_warning = InhibitRule(
        source=(parse_matcher("severity=critical"),),
        target=(parse_matcher("severity=warning"),),
        equal=("host", "check"),
    )
    warning = Labels({**DISK_H1, "severity": "warning"})
    assert inhibited_by(warning, [DISK_H1], [critical_mutes_warning]) == DISK_H1
    assert inhibited_by(warning, [DISK_H2], [critical_mutes_warning]) is None
    # an `equal` label both lack counts as equal (""), as in Alertmanager
    rule = InhibitRule(critical_mutes_warning.source, critical_mutes_warning.target, ("zone",))
    assert inhibited_by(warning, [DISK_H2], [rule]) == DISK_H2


def test_a_maintenance_window_opens_at_each_cron_time_for_its_duration() -> None:
    window = MaintenanceWindow("patch", "0 2 * * SUN", 7200.0, (parse_matcher('host=~"db-.*"'),))
    utc = timezone.utc
    sunday_2am = datetime(2026, 12, 6, 2, 0, tzinfo=utc)
    assert window_active(window, sunday_2am, utc)
    assert window_active(window, sunday_2am + timedelta(hours=1, minutes=59, seconds=59), utc)
    assert not window_active(window, sunday_2am + timedelta(hours=2), utc)
    assert not window_active(window, sunday_2am - timedelta(seconds=1), utc)
    assert not window_active(window, sunday_2am + timedelta(days=1), utc)
    assert window_active(window, sunday_2am + timedelta(days=7, minutes=5), utc)
    # read in the controller's time zone: 02:00 in Berlin is 01:00 UTC in winter
    berlin = ZoneInfo("Europe/Berlin")
    assert window_active(window, datetime(2026, 12, 6, 1, 30, tzinfo=utc), berlin)
    assert not window_active(window, datetime(2026, 12, 6, 3, 30, tzinfo=utc), berlin)
    labels = {"host": "db-01"}
    assert windows_muting(labels, [window], sunday_2am, utc) == (window,)
    assert windows_muting({"host": "web-01"}, [window], sunday_2am, utc) == ()


def test_silences_that_mute_an_alert() -> None:
    on_h1 = Silence("1", (parse_matcher("host=h1"),), 0.0, 100.0, "ops", "disk swap")
    on_disk = Silence("2", (parse_matcher("check=disk"),), 50.0, 60.0)
    assert silenced_by(DISK_H1, [on_h1, on_disk], 55.0) == (on_h1, on_disk)
    assert silenced_by(DISK_H2, [on_h1, on_disk], 10.0) == ()
    assert silenced_by(DISK_H1, [on_h1], 100.0) == ()
