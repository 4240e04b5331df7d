"""Values that used to be accepted silently (coerced, defaulted, skipped) are located errors.

Each case is a small project: its files, and the one message `jarvisctl plan` must print for
it, with exit code 3 (a configuration error).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli

CHECK = "- name: p\n  hosts: all\n  checks:\n    - {name: s, use: swap_used, %s}\n"
PLAY = "- name: p\n  hosts: all\n  %s\n  checks: [{use: swap_used}]\n"
DURATIONS = "a number of seconds, or e.g. 500ms, 30s, 5m, 1h30m, 2d"
THRESHOLDS = "a number, a comparison such as '< 10' or '>= 90', or a Nagios range"


def plan(tmp_path: Path, files: dict[str, str], *args: str) -> Result:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        patch.delenv("JARVISCTL_CONFIG", raising=False)
        return CliRunner().invoke(cli, ["plan", "p.yml", *args], catch_exceptions=False)


def refused(tmp_path: Path, files: dict[str, str], expected: str, *args: str) -> None:
    result = plan(tmp_path, files, *args)
    assert result.exit_code == 3, result.output
    assert expected in result.stderr, result.stderr


PLAYBOOK_CASES = {
    "threshold overflowing to infinity": (
        CHECK % "warn: 1e400",
        f"p.yml:4:39: 'warn': threshold '1e400' is not a finite number (expected a number "
        f"between -1e308 and 1e308; {THRESHOLDS}",
    ),
    "negative infinity": (
        CHECK % "crit: -1e400",
        "p.yml:4:39: 'crit': threshold '-1e400' is not a finite number",
    ),
    "YAML's own infinity": (
        CHECK % "crit: 1.0e+400",
        "p.yml:4:39: 'crit': threshold inf is not a finite number",
    ),
    "not a number": (CHECK % "crit: .nan", "p.yml:4:39: 'crit': threshold nan is not a finite"),
    "a 400-digit integer": (
        CHECK % f"crit: 1{'0' * 400}",
        f"p.yml:4:39: 'crit': threshold 1{'0' * 36}... is not a finite number",
    ),
    "an infinite comparison": (
        CHECK % "warn: '> 1e400'",
        "p.yml:4:39: 'warn': threshold '> 1e400' is not a finite number",
    ),
    "an infinite Nagios range": (
        CHECK % "warn: '1e400:'",
        "p.yml:4:39: 'warn': threshold '1e400:' is not a finite number",
    ),
    "a mapping as a threshold": (
        CHECK % "warn: {a: 1}",
        f"p.yml:4:39: 'warn': invalid threshold {{'a': 1}} (expected {THRESHOLDS}",
    ),
    "for: true": (
        CHECK % "for: true",
        "p.yml:4:38: 'for': expected a whole number, got bool True",
    ),
    "for: 2.0": (CHECK % "for: 2.0", "p.yml:4:38: 'for': expected a whole number, got 2.0"),
    "for: '3'": (CHECK % "for: '3'", "p.yml:4:38: 'for': expected a whole number, got str"),
    "a count too large to store": (
        CHECK % f"for: 1{'0' * 30}",
        "p.yml:4:38: 'for': 1000000000000000000000000000000 is too large (expected a whole number "
        "up to 1000000)",
    ),
    "max_attempts: true": (
        CHECK % "remediate: [{use: restart_service, with: {unit: x}, max_attempts: true}]",
        "p.yml:4:99: 'max_attempts': expected a whole number, got bool True",
    ),
    "a zero check timeout": (
        CHECK % "timeout: 0",
        f"p.yml:4:42: 'timeout': must be longer than 0s (expected {DURATIONS}, above zero)",
    ),
    "a negative check timeout": (
        CHECK % "timeout: -5",
        f"p.yml:4:42: 'timeout': invalid duration -5 (expected {DURATIONS})",
    ),
    "a zero remediation timeout": (
        CHECK % "remediate: [{use: restart_service, with: {unit: x}, timeout: 0s}]",
        "p.yml:4:94: 'timeout': must be longer than 0s",
    ),
    "a duration overflowing to infinity": (
        CHECK % f"timeout: 1{'0' * 400}s",
        f"p.yml:4:42: 'timeout': duration '1{'0' * 35}... is too long (expected at most 3650d)",
    ),
    "a duration past timedelta's range": (
        PLAY % "schedule: {every: 99999999999999d}",
        "p.yml:3:21: 'every': duration '99999999999999d' is too long (expected at most 3650d)",
    ),
    "a float duration past timedelta's range": (
        CHECK % "remediate: [{use: restart_service, with: {unit: x}, window: 1.0e+300}]",
        "p.yml:4:93: 'window': duration 1e+300 is too long (expected at most 3650d)",
    ),
    "a zero timeout of a kind": (
        "- name: p\n  hosts: all\n  checks:\n"
        "    - {use: http, with: {url: 'http://127.0.0.1/', max_time: 0}}\n",
        "p.yml:4:62: http: 'max_time': must be longer than 0s",
    ),
    "a boolean port": (
        "- name: p\n  hosts: all\n  checks:\n    - {use: tcp_port, with: {port: true}}\n",
        "p.yml:4:36: tcp_port: 'port': expected a number, got bool True",
    ),
    "a number as a command": (
        "- name: p\n  hosts: all\n  checks:\n    - {use: command, with: {command: 5}}\n",
        "p.yml:4:38: command: 'command': input should be a valid string, got 5",
    ),
    "a mapping as a command": (
        "- name: p\n  hosts: all\n  checks:\n    - {use: command, with: {command: {a: 1}}}\n",
        "p.yml:4:38: command: 'command': input should be a valid string, got a mapping",
    ),
    "a boolean as a command": (
        "- name: p\n  hosts: all\n  checks:\n    - {use: command, with: {command: true}}\n",
        "p.yml:4:38: command: 'command': input should be a valid string, got True",
    ),
    "a number as a remediation command": (
        CHECK % "remediate: [{use: run, with: {commands: [uptime, 5]}}]",
        "p.yml:4:82: run: 'commands': input should be a valid string, got 5",
    ),
    "a cron expression that never fires": (
        PLAY % "schedule: '0 0 30 2 *'",
        "p.yml:3:13: 'schedule': cron expression '0 0 30 2 *' never fires: no month it names "
        "has that day (February has 28 or 29 days",
    ),
    "the 31st of April": (PLAY % "schedule: '0 0 31 4 *'", "'0 0 31 4 *' never fires"),
    "an interval under a second": (
        PLAY % "schedule: {every: 500ms}",
        "p.yml:3:21: 'every': 500ms is under 1s (e.g. 30s, 5m, 1h)",
    ),
    "a jitter as long as the interval": (
        PLAY % "schedule: {every: 1m, jitter: 10m}",
        "p.yml:3:13: 'schedule': jitter 10m is not shorter than every 1m (a jitter delays each "
        "run by up to that much, e.g. every: 5m, jitter: 30s)",
    ),
    "an empty play name": (
        "- name: ''\n  hosts: all\n",
        "p.yml:1:9: 'name': must not be empty (expected some text other than spaces)",
    ),
    "an empty check name": (
        "- name: p\n  hosts: all\n  checks: [{name: '', use: swap_used}]\n",
        "p.yml:3:19: 'name': must not be empty (expected some text other than spaces)",
    ),
    "a boolean percentage": (
        PLAY % "max_fleet_percent: true",
        "p.yml:3:22: 'max_fleet_percent': input should be a valid number, got True",
    ),
}


@pytest.mark.parametrize(("playbook", "expected"), PLAYBOOK_CASES.values(), ids=PLAYBOOK_CASES)
def test_playbook_values_that_were_accepted_are_located_errors(
    tmp_path: Path, playbook: str, expected: str
) -> None:
    refused(tmp_path, {"p.yml": playbook}, expected)


GOOD = "- name: p\n  hosts: all\n  checks: [{use: swap_used}]\n"

CONFIG_CASES = {
    "an empty state_dir": ("state_dir: ''\n", "jarvisctl.yml:1:12: 'state_dir': must not be empty"),
    "a blank inventory": ("inventory: ' '\n", "jarvisctl.yml:1:12: 'inventory': must not be empty"),
    "timeouts.connect: 0": (
        "timeouts: {connect: 0}\n",
        f"jarvisctl.yml:1:21: 'connect': must be longer than 0s (expected {DURATIONS}, above",
    ),
    "a negative command timeout": (
        "timeouts: {command: -1}\n",
        f"jarvisctl.yml:1:21: 'command': invalid duration -1 (expected {DURATIONS})",
    ),
    "forks: true": (
        "forks: true\n",
        "jarvisctl.yml:1:8: 'forks': expected a whole number, got bool True",
    ),
    "daemon workers as text": (
        "daemon: {workers: '4'}\n",
        "jarvisctl.yml:1:19: 'workers': expected a whole number, got str '4'",
    ),
    "a zero stop timeout": (
        "daemon: {stop_timeout: 0}\n",
        "jarvisctl.yml:1:24: 'stop_timeout': must be longer than 0s",
    ),
    "no playbooks": (
        "playbooks: []\n",
        "jarvisctl.yml:1:12: 'playbooks': list should have at least 1 item after validation",
    ),
    "an empty catalogue path": (
        "catalogue: {checks: ['']}\n",
        "jarvisctl.yml:1:22: 'checks': must not be empty (expected some text other than spaces)",
    ),
}


@pytest.mark.parametrize(("config", "expected"), CONFIG_CASES.values(), ids=CONFIG_CASES)
def test_project_settings_that_were_accepted_are_located_errors(
    tmp_path: Path, config: str, expected: str
) -> None:
    refused(tmp_path, {"p.yml": GOOD, "jarvisctl.yml": config}, expected)


def test_a_catalogue_entry_with_a_zero_timeout_is_located(tmp_path: Path) -> None:
    entry = "name: quick\nkind: swap_used\ndefaults: {timeout: 0}\n"
    playbook = "- name: p\n  hosts: all\n  checks: [{use: quick}]\n"
    refused(
        tmp_path,
        {"p.yml": playbook, "checks/quick.yml": entry},
        "checks/quick.yml:3:21: 'timeout': must be longer than 0s",
    )


def test_a_mapping_for_a_schedule_is_reported_at_its_bad_key_only(tmp_path: Path) -> None:
    result = plan(tmp_path, {"p.yml": PLAY % "schedule: {every: 0s}"})
    assert result.exit_code == 3
    # not also "'str': input should be a valid string" for the other form a schedule may take
    assert result.stderr.splitlines()[0] == (
        "error: p.yml:3:21: 'every': 0s is under 1s (e.g. 30s, 5m, 1h)"
    )


def test_a_value_that_fits_no_form_of_a_schedule_is_one_message(tmp_path: Path) -> None:
    result = plan(tmp_path, {"p.yml": PLAY % "schedule: 5"})
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == (
        "error: p.yml:3:13: 'schedule': expected a string or a mapping, got 5"
    )


def test_a_sub_second_jitter_is_kept(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from jarvisctl.config.schedule import IntervalSpec, interval_trigger

    trigger = interval_trigger(IntervalSpec(60, 0.5), timezone.utc, datetime.now(timezone.utc))
    assert trigger.jitter == 0.5


INVENTORY = "all:\n  children:\n    web:\n      hosts:\n        web1:\n        web2:\n"
SUBSCRIPTS = "(a subscript is written web[0], web[-1] or web[1:3])"
EMPTY_TERM = "has an empty term (terms are separated by ':' or ',', e.g. web:db or 'web:&prod')"
PATTERN_CASES = {
    # `~[` selected every host, `web[` and `web[1:` selected web: now each is refused
    "~[": f"p.yml:2:10: hosts: host pattern '~[' has a stray '[' {SUBSCRIPTS}",
    "web[": f"p.yml:2:10: hosts: host pattern 'web[' has a stray '[' {SUBSCRIPTS}",
    "web[1:": f"p.yml:2:10: hosts: host pattern 'web[1:' has a stray '[' {SUBSCRIPTS}",
    "web]": f"p.yml:2:10: hosts: host pattern 'web]' has a stray ']' {SUBSCRIPTS}",
    "[": f"p.yml:2:10: hosts: host pattern '[' has a stray '[' {SUBSCRIPTS}",
    "web[,all": "p.yml:2:10: hosts: 'web[' in host pattern 'web[,all' has an unclosed '['",
    "~[,web": "p.yml:2:10: hosts: '~[' in host pattern '~[,web' is not a valid regular expression",
    "web::all": f"p.yml:2:10: hosts: host pattern 'web::all' {EMPTY_TERM}",
    "web:": f"p.yml:2:10: hosts: host pattern 'web:' {EMPTY_TERM}",
    ":web": f"p.yml:2:10: hosts: host pattern ':web' {EMPTY_TERM}",
    "web,,all": f"p.yml:2:10: hosts: host pattern 'web,,all' {EMPTY_TERM}",
    "~": "p.yml:2:10: hosts: '~' in pattern '~' names nothing after '~'",
}


@pytest.mark.parametrize(("pattern", "expected"), PATTERN_CASES.items(), ids=PATTERN_CASES)
def test_host_patterns_with_stray_brackets_or_empty_terms_are_located_errors(
    tmp_path: Path, pattern: str, expected: str
) -> None:
    playbook = f"- name: p\n  hosts: '{pattern}'\n  checks: [{{use: swap_used}}]\n"
    refused(tmp_path, {"p.yml": playbook, "inv.yml": INVENTORY}, expected, "-i", "inv.yml")


def test_a_stray_bracket_in_limit_is_a_usage_error(tmp_path: Path) -> None:
    files = {"p.yml": GOOD, "inv.yml": INVENTORY}
    result = plan(tmp_path, files, "-i", "inv.yml", "--limit", "web[")
    assert result.exit_code == 2, result.output  # a command-line option's value: usage
    expected = f"error: --limit 'web[': host pattern 'web[' has a stray '[' {SUBSCRIPTS}"
    assert expected in result.stderr, result.stderr


def test_good_patterns_still_select_their_hosts(tmp_path: Path) -> None:
    for pattern, hosts in {
        "web[1]": ["web2"],
        "web[0:1],": ["web1", "web2"],
        "~web[2]": ["web2"],
    }.items():
        playbook = f"- name: p\n  hosts: '{pattern}'\n  checks: [{{use: swap_used}}]\n"
        result = plan(tmp_path, {"p.yml": playbook, "inv.yml": INVENTORY}, "-i", "inv.yml")
        assert result.exit_code == 0, result.output
        assert re.findall(r"HOST (\S+)", result.stdout) == hosts


INVENTORY_CASES = {
    "a group name with a space": (
        "all:\n  children:\n    web servers:\n      hosts:\n        h1:\n",
        "inv.yml:3:5: group name 'web servers' cannot contain ' ', which host patterns read as "
        "syntax (valid: letters, digits, '_', '-' and '.', e.g. web_servers)",
    ),
    "a group name with a colon": (
        "all:\n  children:\n    'web:db':\n",
        "inv.yml:3:5: group name 'web:db' cannot contain ':'",
    ),
    "a group name starting with '!'": (
        "'!web':\n  hosts:\n    h1:\n",
        "inv.yml:1:1: group name '!web' cannot start with '!'",
    ),
    "hosts as a string": (
        "web:\n  hosts: web1, web2\n",
        "inv.yml:2:10: 'hosts' of group 'web' must be a mapping, got str 'web1, web2' "
        "(write each entry as a key ending in ':', below 'hosts:', e.g. 'web1:')",
    ),
    "a host name with a space": (
        "all:\n  hosts:\n    'web 1':\n",
        "inv.yml:3:5: host name 'web 1' cannot contain ' ', which host patterns read as a "
        "separator (one host per key, e.g. 'web1:', or a range such as 'web[1:3]:')",
    ),
    "a host name with a comma": (
        "all:\n  hosts:\n    'web1,web2':\n",
        "inv.yml:3:5: host name 'web1,web2' cannot contain ','",
    ),
    "children as a string": (
        "all:\n  children: web\n",
        "inv.yml:2:13: 'children' of group 'all' must be a mapping, got str 'web'",
    ),
}


@pytest.mark.parametrize(("inventory", "expected"), INVENTORY_CASES.values(), ids=INVENTORY_CASES)
def test_inventory_groups_are_refused_where_they_are_written(
    tmp_path: Path, inventory: str, expected: str
) -> None:
    # the play targets another group: the mistake is reported at the group, not at a play
    playbook = "- name: p\n  hosts: all\n  checks: [{use: swap_used}]\n"
    refused(tmp_path, {"p.yml": playbook, "inv.yml": inventory}, expected, "-i", "inv.yml")


THRESHOLDS_INVENTORY = """\
all:
  hosts:
    j1:
      thresholds:
        %s: {warn: 50}
"""


def test_a_thresholds_key_that_names_no_check_is_located(tmp_path: Path) -> None:
    # `disk_usge` would leave every disk check on its defaults, with no word said
    refused(
        tmp_path,
        {"p.yml": GOOD, "inv.yml": THRESHOLDS_INVENTORY % "disk_usge"},
        "inv.yml:4:7: variable 'thresholds': 'disk_usge' names no check (a check name or a "
        "definition; did you mean 'disk_usage'",
        *("-i", "inv.yml"),
    )


@pytest.mark.parametrize("key", ["swap_used", "disk_usage", "root disk", "command"])
def test_a_thresholds_key_may_name_any_check_definition_or_kind(tmp_path: Path, key: str) -> None:
    # "root disk" is a check of another playbook of the project: the inventory serves both
    other = "- name: o\n  hosts: all\n  checks: [{name: root disk, use: disk_usage}]\n"
    files = {"p.yml": GOOD, "inv.yml": THRESHOLDS_INVENTORY % key, "playbooks/o.yml": other}
    result = plan(tmp_path, files, "-i", "inv.yml")
    assert result.exit_code == 0, result.output


def test_a_configured_catalogue_directory_must_exist(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    config = "catalogue:\n  checks: [mine]\n  remediations: [a-file]\n"
    result = plan(tmp_path, {"p.yml": GOOD, "jarvisctl.yml": config})
    assert result.exit_code == 3
    assert result.stderr.splitlines()[:2] == [
        f"error: jarvisctl.yml:2:12: catalogue directory 'mine' does not exist (a directory of "
        f"check definitions, relative to {tmp_path})",
        f"error: jarvisctl.yml:3:18: catalogue directory 'a-file' is not a directory (a "
        f"directory of remediation definitions, relative to {tmp_path})",
    ]


EMPTY_CASES = {
    "an empty command": (
        "- name: p\n  hosts: all\n  checks: [{use: command, with: {command: ''}}]\n",
        "p.yml:3:43: command: 'command': must not be empty",
    ),
    "a blank remediation command": (
        CHECK % "remediate: [{use: run, with: {commands: [' ']}}]",
        "p.yml:4:74: run: 'commands': must not be empty",
    ),
    "an empty disk path": (
        "- name: p\n  hosts: all\n  checks: [{use: disk_usage, with: {path: ''}}]\n",
        "p.yml:3:43: disk_usage: 'path': must not be empty",
    ),
    "an empty URL": (
        "- name: p\n  hosts: all\n  checks: [{use: http, with: {url: ''}}]\n",
        "p.yml:3:36: http: 'url': must not be empty",
    ),
    "a zero budget window": (
        CHECK % "remediate: [{use: restart_service, with: {unit: x}, window: 0}]",
        "p.yml:4:93: 'window': must be longer than 0s",
    ),
    "a zero journal age": (
        CHECK % "remediate: [{use: vacuum_journal, with: {max_age: 0}}]",
        "p.yml:4:83: vacuum_journal: 'max_age': must be longer than 0s",
    ),
}


@pytest.mark.parametrize(("playbook", "expected"), EMPTY_CASES.values(), ids=EMPTY_CASES)
def test_empty_commands_and_zero_spans_are_located_errors(
    tmp_path: Path, playbook: str, expected: str
) -> None:
    refused(tmp_path, {"p.yml": playbook}, expected)


def test_the_daemon_may_not_listen_on_port_zero(tmp_path: Path) -> None:
    # port 0 binds a random port: /healthz and /metrics would be where nobody looks
    refused(
        tmp_path,
        {"p.yml": GOOD, "jarvisctl.yml": "daemon: {listen: '127.0.0.1:0'}\n"},
        "jarvisctl.yml:1:18: 'listen': listen '127.0.0.1:0' is not ADDRESS:PORT (e.g. "
        "127.0.0.1:9469, port 1 to 65535)",
    )


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        # found by the upward search, not skipped for the defaults
        ("jarvisctl.yml", "error: jarvisctl.yml: cannot read: a dangling symbolic link"),
        ("host_vars/web1.yml", "error: host_vars/web1.yml: cannot read: a dangling symbolic link"),
        ("group_vars/web", "error: group_vars/web: cannot read: a dangling symbolic link"),
    ],
)
def test_a_settings_or_variables_file_that_cannot_be_read_is_not_skipped(
    tmp_path: Path, link: str, expected: str
) -> None:
    (tmp_path / link).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / link).symlink_to(tmp_path / "gone")
    result = plan(tmp_path, {"p.yml": GOOD, "inv.yml": INVENTORY}, "-i", "inv.yml")
    assert result.exit_code == 3
    assert expected in result.stderr


def test_a_catalogue_default_that_is_no_command_is_located_in_the_catalogue(
    tmp_path: Path,
) -> None:
    entry = "name: mine\nkind: command\nparams:\n  command: {default: 5}\n"
    playbook = "- name: p\n  hosts: all\n  checks: [{use: mine}]\n"
    refused(
        tmp_path,
        {"p.yml": playbook, "checks/mine.yml": entry},
        "checks/mine.yml:4:22: command: 'command': input should be a valid string, got 5",
    )
