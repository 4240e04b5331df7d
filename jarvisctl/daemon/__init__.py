"""`jarvisctl daemon`: scheduled plays through the same `run_playbooks` as `jarvisctl run`.

Light on purpose: `jarvisctl run` imports the leases from here, and nothing else.
"""
