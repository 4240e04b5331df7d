"""Receiver kinds: how a notification reaches email, Slack, a webhook, an Alertmanager or any
Apprise URL. Each is a small module behind `base.ReceiverKind`; `registry` finds them (the
built-ins, and third parties' through the `jarvisctl.receivers` entry point group)."""
