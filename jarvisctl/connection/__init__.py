"""Connections to hosts: SSH (paramiko) and local (subprocess), behind one protocol."""

from __future__ import annotations

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.connection.registry import make_connection, open_connection

__all__ = [
    "CommandResult",
    "Connection",
    "ConnectionSettings",
    "make_connection",
    "open_connection",
]
