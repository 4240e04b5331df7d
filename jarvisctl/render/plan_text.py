"""`jarvisctl plan` for people: per play and host, checks, thresholds, commands, remediations."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from jarvisctl.config.models.values import Direction, Threshold, format_duration
from jarvisctl.plan.model import (
    BackupPlan,
    CheckPlan,
    HostPlan,
    Plan,
    PlaybookPlan,
    PlayPlan,
    RemediationPlan,
    StepPlan,
)


def describe_threshold(threshold: Threshold, direction: Direction) -> str:
    if threshold.duration:  # as written (26h): its number of seconds says less
        return f"{'>=' if direction == 'above' else '<='} {threshold.text}"
    if threshold.kind == "level":
        return f"{'>=' if direction == 'above' else '<='} {threshold.value:g}"
    if threshold.kind == "range":
        return f"{'inside' if threshold.inside else 'outside'} {threshold.text}"
    return threshold.text


def describe_clear(threshold: Threshold, direction: Direction) -> str:
    if threshold.duration:
        return f"{'<=' if direction == 'above' else '>='} {threshold.text}"
    if threshold.kind == "level":
        return f"{'<=' if direction == 'above' else '>='} {threshold.value:g}"
    return threshold.text


def render_plan(plan: Plan) -> str:
    return "\n".join(_plan_lines(plan, _Blocks(plan.secrets))) + "\n"


# The text of each check and step, by the plan's identity: hosts that resolve one alike share one
# CheckPlan or StepPlan (see jarvisctl.plan.reuse, plan.steps), and a fleet's plan repeats a few
# blocks thousands of times.
class _Blocks(dict[int, str]):
    """The blocks made so far, and the plan's secret values (a step's stdin that holds one is
    shown without its digest)."""

    def __init__(self, secrets: frozenset[str]) -> None:
        super().__init__()
        self.secrets = secrets


def _plan_lines(plan: Plan, blocks: _Blocks) -> Iterator[str]:
    for playbook in plan.playbooks:
        yield from _playbook_lines(playbook, blocks)
        yield ""
    yield _summary(plan)


def _playbook_lines(playbook: PlaybookPlan, blocks: _Blocks) -> Iterator[str]:
    yield f"PLAYBOOK {playbook.file}"
    for problem in playbook.problems:
        yield f"  error: {problem}"
    for play in playbook.plays:
        yield from _play_lines(play, blocks)


def _play_lines(play: PlayPlan, blocks: _Blocks) -> Iterator[str]:
    tags = f" tags: {', '.join(play.tags)}" if play.tags else ""
    yield f"  PLAY {play.name} [hosts: {play.hosts_pattern}]{tags}  ({play.location})"
    if play.schedule:
        times = ", ".join(t.strftime("%Y-%m-%d %H:%M:%S %Z") for t in play.schedule.next_fire_times)
        yield f"    schedule: {play.schedule.description}; next: {times}"
    if play.labels:
        yield f"    labels: {', '.join(f'{name}={value}' for name, value in play.labels)}"
    if not play.hosts:
        yield "    no hosts matched"
    if play.rollout is not None:
        from jarvisctl.render.plan_steps_text import rollout_lines

        yield from rollout_lines(play.rollout)
    for host in play.hosts:
        yield from _host_lines(host, blocks)


def _host_lines(host: HostPlan, blocks: _Blocks) -> Iterator[str]:
    """In the order a run does them: checks (and remediations), tasks, backups; then the
    host's turn in the rollout, if any."""
    yield f"    HOST {host.host}  ({host.connection})"
    if not (host.checks or host.backups or host.tasks or host.steps):
        yield "      no checks"
    for check in host.checks:
        block = blocks.get(id(check))
        if block is None:
            block = blocks[id(check)] = "\n".join(_check_lines(check))
        yield block
    yield from _step_blocks(host.tasks, blocks)
    for backup in host.backups:
        yield from _backup_lines(backup)
    yield from _step_blocks((*host.steps, *host.rollback), blocks)


def _step_blocks(steps: tuple[StepPlan, ...], blocks: _Blocks) -> Iterator[str]:
    if not steps:  # a plan without steps does not import the step kinds' code
        return
    from jarvisctl.render.plan_steps_text import step_lines

    for step in steps:  # shared by the hosts that render it alike, as checks are
        block = blocks.get(id(step))
        if block is None:
            block = blocks[id(step)] = "\n".join(step_lines(step, blocks.secrets))
        yield block


def _check_lines(check: CheckPlan) -> Iterator[str]:
    kind = check.use if check.use == check.kind else f"{check.use} -> {check.kind}"
    yield f"      CHECK {check.name}  [{kind}]"
    yield f"        thresholds: {_thresholds(check)}"
    # a controller-side kind (backup_age) runs nothing on the host
    yield f"        $ {check.command}" if check.command else "        measured on the controller"
    for rung, remediation in enumerate(check.remediations, start=1):
        yield from _remediation_lines(rung, remediation)


def _thresholds(check: CheckPlan) -> str:
    def unit(threshold: Threshold) -> str:
        return f" {check.unit}" if check.unit and not threshold.duration else ""

    parts = []
    if check.warn:
        parts.append(f"warn {describe_threshold(check.warn, check.direction)}{unit(check.warn)}")
    if check.crit:
        parts.append(f"crit {describe_threshold(check.crit, check.direction)}{unit(check.crit)}")
    if check.clear:
        parts.append(f"clear {describe_clear(check.clear, check.direction)}{unit(check.clear)}")
    if not parts:
        parts.append("none (value recorded only)")
    if check.for_cycles > 1:
        parts.append(f"for {check.for_cycles} cycles")
    parts.append(f"timeout {format_duration(check.timeout)}")
    return ", ".join(parts)


def _remediation_lines(rung: int, remediation: RemediationPlan) -> Iterator[str]:
    budget = (
        f"max {remediation.max_attempts} per {format_duration(remediation.window)}, "
        f"cooldown {format_duration(remediation.cooldown)}, "
        f"settle {format_duration(remediation.settle)}"
    )
    on = "/".join(remediation.on)
    yield f"        REMEDIATE {rung}. {remediation.use} on {on} ({budget})"
    for command in remediation.commands:
        yield f"          $ {command}"


def _backup_lines(backup: BackupPlan) -> Iterator[str]:
    """What would be taken from the host, how, and where it would go."""
    yield f"      BACKUP {backup.name}  [{backup.source}]"
    if backup.command is not None:
        yield f"        $ {backup.command}"
        yield f"        stored as: {backup.file}"
    else:
        yield f"        paths: {' '.join(shlex.quote(p) for p in backup.paths)}"
        if backup.exclude:
            yield f"        exclude: {' '.join(shlex.quote(g) for g in backup.exclude)}"
    yield f"        to: {describe_store(backup)}"
    yield f"        keep: {describe_keep(backup)}; verify: {backup.verify}" + (
        f"; max_age {format_duration(backup.max_age)}" if backup.max_age is not None else ""
    )
    yield f"        transfer: {_transfer(backup)}"


def describe_store(backup: BackupPlan) -> str:
    store = backup.store
    if store.kind == "restic":
        return f"restic repository {store.location} (store '{store.name}')"
    return f"local directory {store.location} (store '{store.name}')"


def describe_keep(backup: BackupPlan) -> str:
    keep = backup.keep
    rules = [
        f"{name} {count}"
        for name, count in (
            ("last", keep.last),
            ("daily", keep.daily),
            ("weekly", keep.weekly),
            ("monthly", keep.monthly),
        )
        if count
    ]
    return ", ".join(rules)


def _transfer(backup: BackupPlan) -> str:
    parts = [f"compress {backup.compress}", f"timeout {format_duration(backup.timeout)}"]
    if backup.bandwidth is not None:
        parts.append(f"bandwidth {_rate(backup.bandwidth)}")
    if backup.nice:
        parts.append("nice/ionice")
    if backup.become:
        parts.append("become")
    return ", ".join(parts)


def _rate(rate: int) -> str:
    for unit, size in (("GiB/s", 1024**3), ("MiB/s", 1024**2), ("KiB/s", 1024)):
        if rate >= size and rate % size == 0:
            return f"{rate // size}{unit}"
    return f"{rate} B/s"


def _summary(plan: Plan) -> str:
    plays = [play for p in plan.playbooks for play in p.plays]
    hosts = {host.host for play in plays for host in play.hosts}
    checks = sum(len(host.checks) for play in plays for host in play.hosts)
    backups = sum(len(host.backups) for play in plays for host in play.hosts)
    tasks = sum(len(host.tasks) for play in plays for host in play.hosts)
    steps = sum(len(host.steps) for play in plays for host in play.hosts)
    errors = len(plan.problems)
    failed = sum(1 for p in plan.playbooks if not p.ok)
    text = (
        f"{len(plan.playbooks)} playbook(s), {len(plays)} play(s), {len(hosts)} host(s), "
        f"{checks} check(s)"
        + (f", {backups} backup(s)" if backups else "")
        + (f", {tasks} task(s)" if tasks else "")
        + (f", {steps} rollout step(s)" if steps else "")
        + " planned"
    )
    if errors:
        text += f"; {errors} configuration error(s) in {failed} playbook(s)"
    return text
