"""The alert values of core/alerts.py: Alertmanager's fingerprints, matchers as Alertmanager
reads them, labels, silences and the notification's stable key."""

from __future__ import annotations

import pytest

from jarvisctl.core.alerts import (
    Alert,
    AlertState,
    Labels,
    Matcher,
    Notification,
    Severity,
    Silence,
    fingerprint,
    parse_matcher,
)

# Read back from a real Alertmanager 0.25 (GET /api/v2/alerts after posting these labels).
AM_FINGERPRINTS = [
    ({"alertname": "x", "host": "h1"}, "ffeb6d77360e209f"),
    (
        {
            "alertname": "root disk",
            "check": "root disk",
            "host": "jetson-01",
            "play": "jetson health",
            "severity": "critical",
        },
        "6ca47c8fe5e86bc4",
    ),
    (
        {"alertname": "host unreachable", "host": "db-01", "severity": "critical"},
        "da8d31b407ba4a6e",
    ),
    ({"alertname": "température", "zone": "GPU-therm ☃"}, "f331e1d463795f99"),
]


@pytest.mark.parametrize(("labels", "expected"), AM_FINGERPRINTS)
def test_fingerprints_are_alertmanagers(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected
    assert Alert(Labels(labels)).fingerprint == expected


def test_a_fingerprint_depends_on_labels_not_their_order() -> None:
    a = fingerprint({"host": "h1", "alertname": "x"})
    assert a == fingerprint({"alertname": "x", "host": "h1"})
    assert a != fingerprint({"alertname": "x", "host": "h2"})
    # the separator keeps "ab"+"c" apart from "a"+"bc"
    assert fingerprint({"a": "bc"}) != fingerprint({"ab": "c"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', Matcher("severity", "=", "critical")),
        ("severity=critical", Matcher("severity", "=", "critical")),
        ('host=~"jetson-0.*"', Matcher("host", "=~", "jetson-0.*")),
        (" host !~ db-.* ", Matcher("host", "!~", "db-.*")),
        ('check!="gpu temperature"', Matcher("check", "!=", "gpu temperature")),
        ('team=""', Matcher("team", "=", "")),
        ("team=", Matcher("team", "=", "")),
        (r'msg="say \"hi\" \\ bye"', Matcher("msg", "=", 'say "hi" \\ bye')),
        ('a="x=~y"', Matcher("a", "=", "x=~y")),
    ],
)
def test_matchers_parse(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("severity", "invalid matcher 'severity' (expected NAME=VALUE"),
        ("x~y", "invalid matcher 'x~y'"),
        ('1abc="x"', "invalid matcher"),
        ('a="b', "closing quote is missing"),
        ('a="b\\"', "closing quote is missing"),
        ('a="b"c', "text after the closing quote"),
        ('a=b"c', "a quote inside an unquoted value"),
        ('a=~"(jetson"', "invalid regex '(jetson': missing ), unterminated subpattern"),
        ('a!~"*x"', "invalid regex '*x': nothing to repeat"),
        ("a=~" + "x" * 1001, "too long"),
        # matched against a 30-character label, each would take minutes (catastrophic
        # backtracking): refused where written, the config, the CLI and the API alike
        ('host=~"(.+)+Z"', "its regex repeats without bound a part that itself repeats"),
        ('host!~"(a|b*)*c"', "its regex repeats without bound"),
    ],
)
def test_bad_matchers_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_matcher(text)
    assert message in str(raised.value)


def test_a_stored_matcher_reads_back_as_it_was_accepted() -> None:
    """A silence the store kept before the nesting rule still lists and expires."""
    assert parse_matcher('host=~"(.+)+Z"', stored=True) == Matcher("host", "=~", "(.+)+Z")


@pytest.mark.parametrize(
    ("matcher", "labels", "matches"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "critical2"}, False),
        ('severity!="critical"', {}, True),  # a missing label reads as ""
        ('team=""', {}, True),
        ('team=""', {"team": "x"}, False),
        ('host=~"jetson-0.*"', {"host": "jetson-01"}, True),
        ('host=~"jetson-0"', {"host": "jetson-01"}, False),  # anchored at the end
        ('host=~"etson-01"', {"host": "jetson-01"}, False),  # and at the start
        ('host=~"a|b"', {"host": "b"}, True),  # the alternation is grouped before anchoring
        ('host!~"jetson-.*"', {"host": "db-01"}, True),
        ('host!~"jetson-.*"', {"host": "jetson-02"}, False),
        ('host!~".+"', {}, True),
        ('check=~".+"', {}, False),
    ],
)
def test_matchers_match_as_alertmanager(
    matcher: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_matcher(matcher).matches(labels) is matches


def test_a_matcher_prints_back_to_what_parses_to_it() -> None:
    for value in ("plain", 'with "quotes"', "back\\slash", "new\nline", ""):
        matcher = Matcher("a", "=~" if value == "plain" else "=", value)
        assert parse_matcher(str(matcher)) == matcher


def test_labels_are_an_immutable_sorted_hashable_mapping() -> None:
    labels = Labels({"b": "2", "a": "1"})
    assert list(labels) == ["a", "b"]
    assert labels == {"a": "1", "b": "2"} and labels == Labels([("a", "1"), ("b", "2")])
    assert hash(labels) == hash(Labels({"a": "1", "b": "2"}))
    assert labels.value("missing") == ""
    assert labels.only(["a", "z"]) == {"a": "1"} and labels.without(["a"]) == {"b": "2"}
    with pytest.raises(TypeError):
        labels["c"] = "3"  # type: ignore[index]


def test_an_alerts_severity_is_its_label() -> None:
    assert Alert(Labels({"severity": "critical"})).severity is Severity.CRITICAL
    assert Alert(Labels({"severity": "page"})).severity is None
    resolved = Alert(Labels({"a": "1"}), starts_at=10.0).resolved(70.0)
    assert resolved.state is AlertState.RESOLVED and resolved.ends_at == 70.0
    assert resolved.starts_at == 10.0 and resolved.fingerprint == fingerprint({"a": "1"})


def test_a_silence_mutes_matching_labels_only_while_active() -> None:
    silence = Silence("s1", (parse_matcher('host=~"jetson-0.*"'),), 100.0, 200.0)
    assert silence.mutes({"host": "jetson-01"}, 100.0)
    assert silence.mutes({"host": "jetson-01"}, 199.9)
    assert not silence.mutes({"host": "jetson-01"}, 200.0)
    assert not silence.mutes({"host": "jetson-01"}, 99.0)
    assert not silence.mutes({"host": "db-01"}, 150.0)


def _notification(**changes: object) -> Notification:
    alert = Alert(Labels({"alertname": "disk", "host": "h1"}), starts_at=5.0)
    fields: dict[str, object] = {
        "receiver": "ops",
        "group_key": 'root:{host="h1"}',
        "group_labels": Labels({"host": "h1"}),
        "alerts": (alert,),
        "created_at": 1000.0,
    }
    fields.update(changes)
    return Notification(**fields)  # type: ignore[arg-type]


def test_a_notifications_key_is_stable_and_tells_notifications_apart() -> None:
    first = _notification()
    assert first.key == _notification().key  # the same notification, rebuilt from the store
    assert len(first.key) == 32
    firing = first.alerts[0]
    others = [
        _notification(receiver="oncall"),
        _notification(group_key='root:{host="h2"}'),
        _notification(created_at=1001.0),  # a repeat after repeat_interval is a new one
        _notification(alerts=(firing.resolved(9.0),)),
    ]
    assert len({first.key, *(n.key for n in others)}) == 5


def test_a_notifications_status_and_common_labels() -> None:
    a = Alert(Labels({"alertname": "disk", "host": "h1", "severity": "warning"}))
    b = Alert(Labels({"alertname": "disk", "host": "h2", "severity": "warning"}))
    both = _notification(alerts=(a, b.resolved(3.0)))
    assert both.status is AlertState.FIRING
    assert both.common_labels() == {"alertname": "disk", "severity": "warning"}
    done = _notification(alerts=(a.resolved(2.0), b.resolved(3.0)))
    assert done.status is AlertState.RESOLVED
