"""Where snapshots are kept: a protocol (base.py) and its stores (a local directory, restic)."""
