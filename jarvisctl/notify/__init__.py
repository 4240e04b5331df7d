"""Alerts and notifications: routing, muting, messages and receivers (issue 19, CONTRACT-19.md).

Domain logic over core's alert values and config's `notify:` policy. A run that does not notify
imports nothing of it.
"""
