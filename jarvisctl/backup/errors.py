"""The backup domain's errors: a store that cannot keep, read or delete a snapshot."""

from __future__ import annotations

from jarvisctl.core.errors import StoreError


class BackupStoreError(StoreError):
    """A backup store cannot keep, read or delete a snapshot: full, unreadable, misconfigured,
    or its tool (restic, zstd) failed. The message names the store and what to do."""


class CompressionError(BackupStoreError):
    """Stored or received data does not decompress: truncated, corrupt, or no `zstd` here."""
