"""The outbox's worker (notify/delivery.py) against real receivers on loopback, on a real SQLite
store, its time given by a FakeClock (no sleeping for backoffs): delivered once per part with
the notification's key, retried with a doubling backoff while the receiver is down or answers
5xx, given up on a 4xx or after give_up_after, a receiver's notifications kept in order, one
worker's claim keeping another from sending the same entry, and a new worker (a restart) going
on where the last one stopped."""

from __future__ import annotations

import threading
from pathlib import Path

from jarvisctl.config.project import load_project
from jarvisctl.core.alerts import Alert, AlertState, Labels, Notification
from jarvisctl.core.secrets import SecretValues
from jarvisctl.notify.delivery import Attempted, Backoff, Delivery
from jarvisctl.notify.receivers.base import SendContext
from jarvisctl.notify.resolve import Integration, resolve_receivers
from jarvisctl.store.alerts import AlertStore
from jarvisctl.store.factory import open_store
from tests.fakes import FakeClock
from tests.notify_servers import Recorder, free_port, http_recorder

T0 = 1_800_000_000.0
DISK = Alert(
    Labels({"alertname": "disk", "check": "disk", "host": "h1", "severity": "critical"}),
    Labels({"summary": "93% crossed crit >= 90"}),
    AlertState.FIRING,
    T0 - 60,
)


def note(at: float = T0, resolved: bool = False) -> Notification:
    alert = DISK.resolved(at) if resolved else DISK
    return Notification("hook", 'root:{host="h1"}', Labels({"host": "h1"}), (alert,), at)


def integrations(root: Path, url: str, extra: str = "") -> dict[str, Integration]:
    (root / "jarvisctl.yml").write_text(
        f"notify:\n  receivers:\n    hook: {{webhook: {{url: '{url}'{extra}}}}}\n"
        "  route: {receiver: hook}\n"
    )
    project = load_project(root / "jarvisctl.yml")
    found = resolve_receivers(project, SecretValues())
    return {i.name: i for r in found.values() for i in r.integrations}


class Rig:
    def __init__(self, root: Path, url: str, extra: str = "") -> None:
        self.clock = FakeClock(T0)
        self.store: AlertStore = open_store(root / "state").alerts
        self.parts = integrations(root, url, extra)
        self.attempts: list[Attempted] = []
        self.delivery = self.worker()

    def worker(self) -> Delivery:
        return Delivery(
            self.store,
            self.parts,
            SendContext("http://127.0.0.1:9469"),
            backoff=Backoff(first=5.0, most=40.0, give_up_after=3600.0),
            clock=self.clock,
            on_attempt=self.attempts.append,
        )

    def enqueue(self, notification: Notification) -> None:
        self.store.enqueue(notification, list(self.parts))


def keys(recorder: Recorder) -> list[str]:
    return [post.headers["Idempotency-Key"] for post in recorder.posts]


def test_a_notification_is_delivered_once_with_its_key(tmp_path: Path) -> None:
    with http_recorder() as recorder:
        rig = Rig(tmp_path, f"{recorder.url}/hook")
        rig.enqueue(note())
        done = rig.delivery.run_once()
        assert [a.delivered for a in done.attempted] == [True]
        assert done.pending == 0 and done.next_due is None
        assert rig.delivery.run_once().attempted == ()  # nothing twice
    assert keys(recorder) == [note().key]
    assert recorder.posts[0].json()["notificationKey"] == note().key


def test_a_receiver_that_is_down_is_retried_with_backoff_then_delivered(tmp_path: Path) -> None:
    port = free_port()
    rig = Rig(tmp_path, f"http://127.0.0.1:{port}/hook")
    rig.enqueue(note())
    waits = []
    for _ in range(5):
        done = rig.delivery.run_once()
        (failed,) = done.attempted
        assert not failed.delivered and failed.retry_at is not None
        assert "Connection refused" in failed.error
        waits.append(failed.retry_at - rig.clock.now())
        assert rig.delivery.run_once().attempted == ()  # not due yet
        rig.clock.advance(waits[-1])
    assert waits == [5.0, 10.0, 20.0, 40.0, 40.0]  # doubling, up to `most`
    (entry,) = rig.store.outbox()
    assert entry.attempts == 5 and "Connection refused" in entry.last_error
    with http_recorder() as recorder:
        rig.parts = integrations(tmp_path, f"{recorder.url}/hook")
        rig.delivery = rig.worker()  # the receiver is back (and the worker restarted)
        (ok,) = rig.delivery.run_once().attempted
        assert ok.delivered
    assert keys(recorder) == [note().key]
    assert rig.store.pending() == 0


def test_a_refusal_is_given_up_at_once_and_a_transient_fault_after_give_up_after(
    tmp_path: Path,
) -> None:
    with http_recorder() as recorder:
        recorder.answers["/bad"] = (400, b"invalid_payload")
        recorder.answers["/busy"] = (503, b"busy")
        rig = Rig(tmp_path, f"{recorder.url}/bad")
        rig.enqueue(note())
        (refused,) = rig.delivery.run_once().attempted
        assert refused.given_up and "400 Bad Request" in refused.error
        assert rig.store.pending() == 0 and rig.store.outbox() == []
        busy = Rig(tmp_path / "b", f"{recorder.url}/busy")
        busy.enqueue(note())
        given_up = None
        while given_up is None:
            (tried,) = busy.delivery.run_once().attempted
            if tried.given_up:
                given_up = tried
            else:
                assert tried.retry_at is not None
                busy.clock.advance(tried.retry_at - busy.clock.now())
        assert busy.clock.now() - T0 >= 3600.0
        assert "503 Service Unavailable" in given_up.error and "given up" in given_up.error


def test_a_receivers_notifications_go_out_in_order(tmp_path: Path) -> None:
    with http_recorder() as recorder:
        recorder.answers["/hook"] = (503, b"")
        rig = Rig(tmp_path, f"{recorder.url}/hook")
        firing, resolved = note(T0), note(T0 + 30, resolved=True)
        rig.enqueue(firing)
        rig.delivery.run_once()  # the firing one fails: retried in 5 s
        rig.clock.advance(30)
        rig.enqueue(resolved)  # due at once, but behind the firing one
        recorder.answers.pop("/hook")
        rig.delivery.run_once()
    assert keys(recorder) == [firing.key, firing.key, resolved.key]


def test_another_workers_claim_keeps_an_entry_from_being_sent_twice(tmp_path: Path) -> None:
    with http_recorder() as recorder:
        recorder.hang.add("/hook")
        recorder.hang_seconds = 1.0
        rig = Rig(tmp_path, f"{recorder.url}/hook")
        rig.enqueue(note())
        other = rig.worker()  # another process's worker on the same store
        first = threading.Thread(target=rig.delivery.run_once)
        first.start()
        while not recorder.posts:  # the first worker's attempt is under way
            threading.Event().wait(0.01)
        assert other.run_once().attempted == ()
        first.join()
    assert keys(recorder) == [note().key]
    assert rig.store.pending() == 0


def test_an_attempt_that_outlived_its_claim_is_tried_again_with_the_same_key(
    tmp_path: Path,
) -> None:
    with http_recorder() as recorder:
        rig = Rig(tmp_path, f"{recorder.url}/hook", ", timeout: 2s")
        rig.enqueue(note())
        (entry,) = rig.store.outbox()
        # a worker claimed it and died mid-attempt: the claim runs out, and it is sent again
        assert rig.store.claim(entry.notification.key, entry.integration, T0, T0 + 36)
        assert rig.delivery.run_once().attempted == ()
        rig.clock.advance(36)
        (sent,) = rig.delivery.run_once().attempted
        assert sent.delivered
    assert keys(recorder) == [note().key]


def test_a_receiver_no_longer_configured_is_given_up_saying_so(tmp_path: Path) -> None:
    with http_recorder() as recorder:
        rig = Rig(tmp_path, f"{recorder.url}/hook")
        rig.store.enqueue(note(), ["gone/webhook/0"])
        (attempt,) = rig.delivery.run_once().attempted
    assert attempt.given_up
    assert (
        attempt.error == "receiver 'gone' (gone/webhook/0) is no longer in jarvisctl.yml: given up"
    )
    assert recorder.posts == []
