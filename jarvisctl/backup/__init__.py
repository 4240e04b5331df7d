"""Backups: taking a snapshot over a connection (a tar stream or a command's output), the
backup stores that keep them (local directory, restic), verification against the manifest,
retention, and restore to a host. Below the engine, which takes backups after a play's checks;
above connection/ and store/, whose protocols it uses."""
