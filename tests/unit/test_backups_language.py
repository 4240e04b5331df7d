"""A play's `backups:` and jarvisctl.yml's `backup_stores:`: every mistake located, and what
each backup resolves to on each host (BackupPlan, the freshness check its max_age derives)."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from jarvisctl.config.project import load_project
from jarvisctl.core.errors import ConfigError
from jarvisctl.core.secrets import SecretValues
from jarvisctl.kinds.backups import BackupAgeParams
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.backup_stores import store_plans
from jarvisctl.plan.model import BackupPlan, CheckPlan, Plan, Retention
from jarvisctl.plan.planner import make_plan
from tests.backup.helpers import host_of

INVENTORY = """\
all:
  hosts:
    h1: {connection: local, etc: /etc, db: app}
    h2: {connection: local, etc: /srv/etc, db: "it's mine; rm -rf /"}
"""


def project(root: Path, playbook: str, config: str = "") -> Path:
    (root / "jarvisctl.yml").write_text(textwrap.dedent(config) or "{}\n")
    (root / "inventory.yml").write_text(INVENTORY)
    path = root / "p.yml"
    path.write_text(textwrap.dedent(playbook))
    return path


def plan_of(root: Path, playbook: str, config: str = "", tags: tuple[str, ...] = ()) -> Plan:
    path = project(root, playbook, config)
    now = datetime.now(timezone.utc)
    loaded = load_project(start=root)
    return make_plan(
        loaded, [path], [root / "inventory.yml"], now, tags=tags, secrets=SecretValues()
    )


def errors_of(root: Path, playbook: str, config: str = "") -> list[str]:
    """The `error:` lines `jarvisctl plan` prints for this project."""
    project(root, playbook, config)
    result = invoke(root, "plan", "p.yml", "-i", "inventory.yml")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def invoke(root: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def backup(plan: Plan, host_name: str, name: str) -> BackupPlan:
    return next(b for b in host_of(plan, host_name).backups if b.name == name)


def test_every_source_mistake_is_located_at_the_key_to_change(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - name: p
          hosts: all
          backups:
            - {name: both, paths: [/etc], command: "cat /x", keep: {last: 1}}
            - {name: neither, keep: {last: 1}}
            - {name: nofile, command: "cat /x", keep: {last: 1}}
            - {name: stray, paths: [/etc], file: x.tar, keep: {last: 1}}
            - {name: glob, command: "cat /x", file: x, exclude: ["*.tmp"], keep: {last: 1}}
        """,
    )
    assert errors == [
        "error: p.yml:4:35: backup 'both': a backup takes either 'paths' or 'command', not both",
        "error: p.yml:5:7: backup 'neither': a backup needs 'paths' (files and directories, "
        "e.g. [/etc/app]) or 'command' (a stream such as 'pg_dump -Fc app', with 'file')",
        "error: p.yml:6:22: backup 'nofile': a command backup needs 'file': the name its stream "
        "is stored under (e.g. file: app.dump)",
        "error: p.yml:7:36: backup 'stray': 'file' names a 'command' stream; 'paths' are stored "
        "as they are",
        "error: p.yml:8:48: backup 'glob': 'exclude' applies to 'paths' only, not to a "
        "'command' stream",
    ]


def test_every_value_mistake_is_located_with_what_would_be_valid(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - name: p
          hosts: all
          backups:
            - name: bad/name
              paths: [/etc]
              keep: {last: 0, daily: 0}
              compress: lz4
              verify: always
              bandwidth: 2XB/s
              timeout: 0
              max_age: soon
              nice: 1
              tags: ["no space"]
            - name: c
              command: "cat /x"
              file: ../x
              keep: {last: -1, hourly: 3}
              become: "yes"
            - {name: e, paths: [], keep: {daily: 1}, store: ""}
        """,
    )
    assert errors == [
        "error: p.yml:4:13: 'name': invalid backup name 'bad/name' (a letter or digit, then "
        "letters, digits, '_', '.', '-' (e.g. app-db))",
        "error: p.yml:6:13: 'keep': at least one of last, daily, weekly, monthly must be above "
        "0 (e.g. {last: 7, daily: 7, weekly: 4})",
        "error: p.yml:7:17: 'compress': input should be 'gzip', 'zstd' or 'none', got 'lz4'",
        "error: p.yml:8:15: 'verify': input should be 'checksum' or 'restore', got 'always'",
        "error: p.yml:9:18: 'bandwidth': invalid bandwidth '2XB/s' (expected bytes per second: "
        "a whole number, or e.g. 500KiB/s, 2MiB/s, 1MB/s)",
        "error: p.yml:10:16: 'timeout': must be longer than 0s (expected a number of seconds, "
        "or e.g. 500ms, 30s, 5m, 1h30m, 2d, above zero)",
        "error: p.yml:11:16: 'max_age': invalid duration 'soon' (expected a number of seconds, "
        "or e.g. 500ms, 30s, 5m, 1h30m, 2d)",
        "error: p.yml:12:13: 'nice': input should be a valid boolean, got 1",
        "error: p.yml:13:13: 'tags': invalid tag 'no space' (letters, digits, '_', '.', '-' only)",
        "error: p.yml:16:13: 'file': invalid file name '../x' (a plain file name such as "
        "app.dump: no '/', no control character, not '.' or '..')",
        "error: p.yml:17:20: 'last': input should be greater than or equal to 0, got -1",
        "error: p.yml:17:24: unknown key 'hourly' (valid: last, daily, weekly, monthly)",
        "error: p.yml:18:15: 'become': input should be a valid boolean, got 'yes'",
        "error: p.yml:19:24: 'paths': value should have at least 1 item after validation, "
        "not 0, got a list []",
        "error: p.yml:19:53: 'store': must not be empty (expected some text other than spaces)",
    ]


def test_keep_is_required_and_an_unknown_backup_key_is_named(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - name: p
          hosts: all
          backups:
            - {name: a, paths: [/etc]}
            - {name: b, paths: [/etc], keep: {last: 1}, retention: 3}
        """,
    )
    assert errors == [
        "error: p.yml:4:7: missing required key 'keep'",
        "error: p.yml:5:49: unknown key 'retention' (valid: name, paths, exclude, command, file, "
        "keep, max_age, verify, store, compress, timeout, become, bandwidth, nice, tags)",
    ]


def test_backups_must_be_a_list_of_mappings(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - {name: p, hosts: all, backups: {name: x}}
        - {name: q, hosts: all, backups: [config, 3]}
        """,
    )
    assert errors == [
        "error: p.yml:1:34: 'backups': input should be a valid list, got a mapping {'name': 'x'}",
        "error: p.yml:2:35: a backup must be a mapping, got 'config' (e.g. {name: config, "
        "paths: [/etc/app], keep: {daily: 7}})",
        "error: p.yml:2:43: a backup must be a mapping, got 3 (e.g. {name: config, "
        "paths: [/etc/app], keep: {daily: 7}})",
    ]


def test_duplicate_names_in_a_play_and_an_unknown_store(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - name: p
          hosts: all
          backups:
            - {name: a, paths: [/etc], keep: {last: 1}}
            - {name: a, paths: [/srv], keep: {last: 1}, store: ofsite}
        """,
        "backup_stores: {offsite: {type: local, path: kept}}\n",
    )
    assert errors == [
        "error: p.yml:5:14: duplicate backup name 'a' in play 'p' (first at p.yml:4:7; give each "
        "backup a distinct 'name')",
        "error: p.yml:5:56: backup 'a': unknown store 'ofsite' ('local' or a name in "
        "jarvisctl.yml's backup_stores; did you mean 'offsite'? known: local, offsite)",
    ]


def test_one_backup_name_declared_twice_for_a_host_across_plays_and_playbooks(
    tmp_path: Path,
) -> None:
    """Snapshots are kept per (host, backup name): two plays (or two playbooks planned together)
    declaring one name for one host would share one history, one's keep pruning the other's."""
    errors = errors_of(
        tmp_path,
        """\
        - name: p1
          hosts: h1
          backups:
            - {name: same, paths: [/etc/hostname], keep: {last: 1}}
        - name: p2
          hosts: all
          backups:
            - {name: same, paths: [/etc/hosts], keep: {last: 5}}
        - name: p3
          hosts: h2
          backups:
            - {name: same, paths: [/etc/hosts], keep: {last: 5}}
        """,
    )
    assert errors == [
        "error: p.yml:8:7: backup 'same' is declared for host h1 already, by play 'p1' at "
        "p.yml:4:7: snapshots are kept per host and backup name, so the two would share one "
        "history (one's keep pruning the other's snapshots) (give one of them another name)",
        "error: p.yml:12:7: backup 'same' is declared for host h2 already, by play 'p2' at "
        "p.yml:8:7: snapshots are kept per host and backup name, so the two would share one "
        "history (one's keep pruning the other's snapshots) (give one of them another name)",
    ]
    other = tmp_path / "q.yml"
    other.write_text(
        "- {name: q, hosts: h2, backups: [{name: same, command: x, file: x, keep: {last: 1}}]}\n"
    )
    (tmp_path / "p.yml").write_text(
        "- {name: p, hosts: all, backups: [{name: same, paths: [/etc], keep: {last: 1}}]}\n"
    )
    result = invoke(tmp_path, "plan", "p.yml", "q.yml", "-i", "inventory.yml")
    assert result.exit_code == 3, result.output
    assert (
        "error: q.yml:1:34: backup 'same' is declared for host h2 already, by play 'p' at "
        "p.yml:1:35" in result.stderr
    )
    # one name on different hosts, or different names on one host, is no conflict
    assert plan_of(
        tmp_path,
        """\
        - {name: p1, hosts: h1, backups: [{name: same, paths: [/etc], keep: {last: 1}}]}
        - {name: p2, hosts: h2, backups: [{name: same, paths: [/srv], keep: {last: 1}}]}
        - {name: p3, hosts: all, backups: [{name: other, paths: [/srv], keep: {last: 1}}]}
        """,
    ).ok


def test_a_check_cannot_take_the_name_of_a_derived_freshness_check(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - name: p
          hosts: all
          checks: [{name: backup a, use: swap_used}]
          backups: [{name: a, paths: [/etc], keep: {last: 1}, max_age: 1d}]
        """,
    )
    assert errors == [
        "error: p.yml:3:19: check name 'backup a' is the freshness check of the backup at "
        "p.yml:4:13 (its max_age) (give this check another 'name')"
    ]


def test_rendered_paths_must_be_absolute_and_templates_are_located(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - name: p
          hosts: all
          backups:
            - {name: a, paths: ["{{ etc | replace('/', '') }}/app", /ok], keep: {last: 1}}
            - {name: b, command: "dump {{ nope }}", file: b.out, keep: {last: 1}}
            - {name: c, paths: [/x], exclude: ["{{ missing }}"], keep: {last: 1}}
            - {name: e, command: "cat /x", file: "a\\nb", keep: {last: 1}}
        """,
    )
    assert errors == [
        "error: p.yml:4:25: paths: 'etc/app' is not an absolute path (e.g. /etc/app, "
        "/var/lib/app) (host h1)",
        "error: p.yml:4:25: paths: 'srvetc/app' is not an absolute path (e.g. /etc/app, "
        "/var/lib/app) (host h2)",
        "error: p.yml:5:26: template 'dump {{ nope }}': undefined variable 'nope' (host h1, h2)",
        "error: p.yml:6:40: template '{{ missing }}': undefined variable 'missing' (host h1, h2)",
        "error: p.yml:7:42: 'file': invalid file name 'a\\nb' (a plain file name such as "
        "app.dump: no '/', no control character, not '.' or '..')",
    ]


PLAY = """\
- name: keep things
  hosts: all
  tags: [nightly]
  backups:
    - name: config
      paths: ["{{ etc }}/jarvis", /opt/jarvis/config]
      exclude: ["*.tmp"]
      keep: {last: 7, daily: 7}
      max_age: 26h
      verify: restore
      tags: [config]
    - name: app-db
      command: "pg_dump -Fc {{ db }}"
      file: app.dump
      keep: {daily: 14}
      store: offsite
      compress: zstd
      bandwidth: 2MiB/s
      timeout: 10m
      become: true
      nice: false
      tags: [db]
"""
STORES = """\
backup_stores:
  offsite: {type: restic, repository: repos/offsite, password: "{{ env('RESTIC_PW') }}"}
"""


def test_backups_resolve_per_host_with_rendered_paths_and_a_quoted_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTIC_PW", "correct horse battery")
    plan = plan_of(tmp_path, PLAY, STORES)
    config = backup(plan, "h2", "config")
    assert config.source == "paths"
    assert config.paths == ("/srv/etc/jarvis", "/opt/jarvis/config")
    assert config.exclude == ("*.tmp",)
    assert (config.command, config.file) == (None, None)
    assert config.keep == Retention(last=7, daily=7)
    assert (config.max_age, config.verify, config.compress) == (26 * 3600, "restore", "gzip")
    assert (config.timeout, config.become, config.bandwidth, config.nice) == (
        3600,
        False,
        None,
        True,
    )
    assert config.store.name == "local" and config.store.kind == "local"
    assert config.store.location == str(tmp_path / ".jarvisctl" / "backups")
    assert config.play == "keep things" and config.tags == ("config",)
    assert (config.location.line, config.location.column) == (5, 7)

    database = backup(plan, "h2", "app-db")
    assert database.source == "command" and database.paths == ()
    # inventory data reaches the shell quoted: it cannot end the command or start another
    assert database.command == "pg_dump -Fc 'it'\"'\"'s mine; rm -rf /'"
    assert backup(plan, "h1", "app-db").command == "pg_dump -Fc app"
    assert database.file == "app.dump"
    assert (database.compress, database.bandwidth, database.timeout) == ("zstd", 2 * 1024**2, 600)
    assert (database.become, database.nice, database.max_age) == (True, False, None)
    assert database.store.kind == "restic"
    assert database.store.location == str(tmp_path / "repos" / "offsite")
    assert database.store.password == "correct horse battery"
    assert "correct horse battery" in plan.secrets
    assert [b.name for b in host_of(plan, "h1").backups] == ["config", "app-db"]


def test_max_age_derives_a_controller_side_freshness_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTIC_PW", "correct horse battery")
    plan = plan_of(tmp_path, PLAY, STORES)
    (check,) = host_of(plan, "h1").checks  # app-db has no max_age: no check
    assert isinstance(check, CheckPlan)
    assert (check.name, check.use, check.kind, check.command) == (
        "backup config",
        "backup_age",
        "backup_age",
        "",
    )
    assert check.params == BackupAgeParams(backup="config")
    assert (check.unit, check.direction, check.warn, check.clear) == ("s", "above", None, None)
    assert check.crit is not None and check.crit.breached(26 * 3600, "above")
    assert not check.crit.breached(26 * 3600 - 1, "above")
    assert check.tags == ("config",)
    assert load_registry().checks["backup_age"].controller_side
    assert not load_registry().checks["disk_usage"].controller_side
    assert host_of(plan, "h2").checks[0] is check  # one plan shared by every host


def test_a_check_can_use_backup_age_by_the_name_of_a_backup(tmp_path: Path) -> None:
    playbook = """\
    - name: backed up
      hosts: all
      backups: [{name: config, paths: [/etc/hostname], keep: {last: 3}}]
    - name: watched
      hosts: h1
      checks:
        - {name: config fresh, use: backup_age, with: {backup: config}, warn: 20h, crit: 26h}
    """
    plan = plan_of(tmp_path, playbook)
    assert plan.ok, plan.problems
    checks = [c for b in plan.playbooks for p in b.plays for h in p.hosts for c in h.checks]
    (watched,) = [c for c in checks if c.name == "config fresh"]
    assert watched.kind == "backup_age" and watched.command == ""
    assert watched.warn is not None and watched.warn.value == 20 * 3600
    assert watched.crit is not None and watched.crit.value == 26 * 3600

    errors = errors_of(tmp_path, playbook.replace("backup: config}", "backup: confg}"))
    assert errors == [
        "error: p.yml:7:60: backup_age: unknown backup 'confg' (a backup declared in a play's "
        "backups:; did you mean 'config'? known: config) (host h1)"
    ]


def test_a_duration_threshold_fits_only_a_check_measured_in_seconds(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        - name: p
          hosts: h1
          checks:
            - {use: disk_usage, with: {path: /}, crit: 5m}
            - {use: file_age, with: {path: /etc/hostname}, warn: 1d, crit: 2d12h}
        """,
    )
    assert errors == [
        "error: p.yml:4:48: crit: '5m' is a duration, and 'disk_usage' is not measured in "
        "seconds (its unit: %) (a number in the check's unit, e.g. 90)"
    ]


def test_tags_select_backups_as_they_select_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTIC_PW", "pw-from-env")
    by_tag = plan_of(tmp_path, PLAY, STORES, tags=("db",))
    assert [b.name for b in host_of(by_tag, "h1").backups] == ["app-db"]
    assert host_of(by_tag, "h1").checks == ()  # config's freshness check went with it
    by_play_tag = plan_of(tmp_path, PLAY, STORES, tags=("nightly",))
    assert [b.name for b in host_of(by_play_tag, "h1").backups] == ["config", "app-db"]


def test_a_store_named_local_overrides_the_default(tmp_path: Path) -> None:
    playbook = "- {name: p, hosts: all, backups: [{name: a, paths: [/etc], keep: {last: 1}}]}\n"
    plan = plan_of(tmp_path, playbook, "backup_stores: {local: {type: local, path: /srv/bk}}\n")
    assert backup(plan, "h1", "a").store.location == "/srv/bk"


def test_the_default_store_follows_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JARVISCTL_STATE_DIR", str(tmp_path / "elsewhere"))
    playbook = "- {name: p, hosts: all, backups: [{name: a, paths: [/etc], keep: {last: 1}}]}\n"
    plan = plan_of(tmp_path, playbook)
    assert backup(plan, "h1", "a").store.location == str(tmp_path / "elsewhere" / "backups")


def test_store_mistakes_in_jarvisctl_yml_are_located_and_never_show_a_password(
    tmp_path: Path,
) -> None:
    (tmp_path / "jarvisctl.yml").write_text(
        textwrap.dedent(
            """\
            backup_stores:
              a: {type: restic, repository: /r, password: hunter2hunter2}
              b: {type: s3, repository: /r, password: hunter2hunter2}
              c: {path: x}
              d: {type: local, path: x, password: y}
              e: {type: restic, repository: /r, password: 123456789}
              f: {type: restic, repository: /r}
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_project(start=tmp_path)
    problems = [str(p).removeprefix(f"{tmp_path}/") for p in caught.value.problems]
    wanted_type = (
        "'type' must be local or restic: {type: local, path: DIR} or {type: restic, "
        "repository: PATH, password: \"{{ env('NAME') }}\"}"
    )
    written = (
        "'password': write where it comes from, not the password itself: "
        "\"{{ env('RESTIC_PASSWORD') }}\" or \"{{ secret_file('secrets/restic') }}\""
    )
    assert problems == [
        f"jarvisctl.yml:2:47: {written}",
        f"jarvisctl.yml:3:6: 'b': {wanted_type}",
        f"jarvisctl.yml:4:6: 'c': {wanted_type}",
        "jarvisctl.yml:5:29: unknown key 'password' (valid: type, path)",
        f"jarvisctl.yml:6:47: {written}",
        "jarvisctl.yml:7:6: missing required key 'password' in 'f'",
    ]
    assert not any("hunter2" in p or "123456789" in p for p in problems)


def test_a_store_path_or_repository_is_not_a_template(tmp_path: Path) -> None:
    """Only a restic password is rendered: a template in `path` or `repository` was taken as
    written (a directory named "{{ env('HOME') }}" under the project root)."""
    (tmp_path / "jarvisctl.yml").write_text(
        textwrap.dedent(
            """\
            backup_stores:
              a: {type: local, path: "{{ env('HOME') }}/x"}
              b:
                type: restic
                repository: "rest:https://u:{{ env('P') }}@h/"
                password: "{{ env('P') }}"
              c: {type: local, path: "/srv/{% if 1 %}x{% endif %}"}
              d: {type: restic, repository: "sftp:u@h:/srv/restic", password: "{{ env('P') }}"}
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_project(start=tmp_path)
    problems = [str(p).removeprefix(f"{tmp_path}/") for p in caught.value.problems]
    why = "is not a template (only 'password' is rendered): write {} itself"
    assert problems[1].endswith("(AWS_ACCESS_KEY_ID, RESTIC_REST_USERNAME...)")
    assert [p.split("; restic")[0] for p in problems] == [
        f"jarvisctl.yml:2:26: 'path': {why.format('a directory')}",
        f"jarvisctl.yml:5:17: 'repository': "
        f"{why.format('a directory or restic' + chr(39) + 's sftp:, rest:, s3:... location')}",
        f"jarvisctl.yml:7:26: 'path': {why.format('a directory')}",
    ]


NOPE_STORE = """\
backup_stores:
  remote: {type: restic, repository: /r, password: "{{ env('NOPE') }}"}
"""


def test_a_store_name_must_be_a_plain_name(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text('backup_stores:\n  "../up": {type: local, path: x}\n')
    with pytest.raises(ConfigError) as caught:
        load_project(start=tmp_path)
    assert [str(p).removeprefix(f"{tmp_path}/") for p in caught.value.problems] == [
        "jarvisctl.yml:2:3: 'backup_stores': invalid store name '../up' (a letter or digit, "
        "then letters, digits, '_', '.', '-' (e.g. app-db))"
    ]


def test_a_restic_password_is_read_when_used_and_must_come_from_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbook = (
        "- {name: p, hosts: all, backups: [{name: a, paths: [/etc], keep: {last: 1}, "
        "store: remote}]}\n"
    )
    unset = errors_of(
        tmp_path,
        playbook,
        NOPE_STORE,
    )
    assert unset == [
        "error: jarvisctl.yml:2:52: backup store 'remote': password: template "
        "\"{{ env('NOPE') }}\": environment variable 'NOPE' is not set (export NOPE in the "
        "environment jarvisctl runs in)"
    ]
    monkeypatch.setenv("PW", "s3cret-part")
    mixed = errors_of(
        tmp_path,
        playbook,
        NOPE_STORE.replace("{{ env('NOPE') }}", "x{{ env('PW') }}"),
    )
    assert mixed == [
        "error: jarvisctl.yml:2:52: backup store 'remote': the password must come from env() or "
        "secret_file() alone, so that it is never written in a file (e.g. password: "
        "\"{{ env('RESTIC_PASSWORD') }}\")"
    ]
    # a store no backup uses is never read: its variable need not be set
    fine = plan_of(
        tmp_path,
        "- {name: p, hosts: all, backups: [{name: a, paths: [/etc], keep: {last: 1}}]}\n",
        NOPE_STORE,
    )
    assert fine.ok


def test_store_plans_for_the_backups_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "restic").write_text("from-a-file-42\n")
    project(
        tmp_path,
        "- {name: p, hosts: all, checks: []}\n",
        """\
        backup_stores:
          remote:
            type: restic
            repository: "sftp:bk@nas:/srv/restic"
            password: "{{ secret_file('secrets/restic') }}"
          nas: {type: local, path: nas}
        """,
    )
    secrets = SecretValues()
    stores = store_plans(load_project(start=tmp_path), secrets)
    assert sorted(stores) == ["local", "nas", "remote"]
    assert stores["nas"].location == str(tmp_path / "nas")
    assert stores["remote"].location == "sftp:bk@nas:/srv/restic"  # restic's own: kept as written
    assert stores["remote"].password == "from-a-file-42"
    assert "from-a-file-42" in secrets.frozen()
    assert "elsewhere" not in stores
    with pytest.raises(KeyError):
        stores["elsewhere"]
