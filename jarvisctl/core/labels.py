"""Label names, as alerts and a play's `labels:` write them (Prometheus's own rule), and the
names jarvisctl sets on the alerts it makes, which a play's labels cannot take.

Apart from core/alerts.py so that loading a playbook, which checks a play's `labels:`, imports
nothing of the alerts (a run that notifies nobody never does: tests/unit/test_notify_imports.py).
"""

from __future__ import annotations

import re

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LABEL_NAME_HINT = "a label name: a letter or '_', then letters, digits or '_'"

# What an alert of jarvisctl's says by itself (CONTRACT-19.md): its name, where, what, how bad,
# and for a backup's alert which backup. A play's labels come after these and never replace one.
RESERVED_LABELS = ("alertname", "host", "check", "play", "severity", "backup")
# Prometheus keeps names that start with two underscores for its own use
RESERVED_PREFIX = "__"
