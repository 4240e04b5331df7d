"""`jarvisctl daemon`: scheduled plays through the same `run_playbooks` as `jarvisctl run`."""
