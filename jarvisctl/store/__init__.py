"""Storage: the check states and counters, the remediation ledger, leases, the run index and the
scheduler's jobs.
"""
