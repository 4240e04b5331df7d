"""Storage: the check states and counters, the remediation ledger, leases, the run index and the
scheduler's jobs.

One protocol per aggregate, with frozen records in and out (checks.py, ledger.py, leases.py,
runs.py, jobstore.py), gathered by the Store protocol (base.py) and opened by
`factory.open_store`. The SQLite implementation, with its versioned migrations, is sqlite/: no
other module knows SQL, sqlite3 or SQLite's dialect (tests/unit/test_store_confinement.py).
"""
