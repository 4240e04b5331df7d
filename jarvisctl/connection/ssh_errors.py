"""Turn paramiko's and the socket layer's exceptions into operator-grade jarvisctl errors."""

from __future__ import annotations

import errno
import os
import shlex
import socket
from pathlib import Path
from typing import Any

from jarvisctl.config.connection_settings import DEFAULT_CONNECT_TIMEOUT, ConnectionSettings
from jarvisctl.core.errors import AuthenticationError, SessionInterruptedError, UnreachableError
from jarvisctl.core.filecache import FileCache
from jarvisctl.core.frozen import frozen

_SOCKET_REASONS = {
    errno.ECONNREFUSED: "connection refused (is sshd running, and listening on this port?)",
    errno.EHOSTUNREACH: "no route to host (is it powered on and on this network?)",
    errno.ENETUNREACH: "network unreachable from this machine",
    errno.ECONNRESET: "connection reset by the host during the SSH handshake",
}


def _read_key(path: Path) -> Any:
    from paramiko import PKey

    return PKey.from_path(path)


_KEYS: FileCache[Any] = FileCache(_read_key)


def load_identity(settings: ConnectionSettings) -> Any:
    """The private key of `identity_file`, or AuthenticationError saying why it is unusable.

    Read once per process while the file is unchanged: a fleet shares one key, and parsing it
    for every connection costs the controller more than the connection's key exchange.
    """
    from paramiko import SSHException

    path = os.path.expanduser(str(settings.identity_file))
    try:
        return _KEYS.get(Path(path))
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or exc})"
    except TypeError as exc:  # cryptography: "Key is password-protected, ..."
        problem = f"is protected by a passphrase, which jarvisctl does not ask for ({exc})"
    except (ValueError, SSHException) as exc:
        problem = f"is not a private key paramiko can load ({exc})"
    raise AuthenticationError(
        f"{settings.host}: identity file {path} {problem}; fix identity_file "
        f"(ansible_ssh_private_key_file) for this host, or remove it to use the ssh-agent and "
        f"~/.ssh/id_*"
    )


@frozen
class Attempt:
    """One connection attempt, as its error reports it: where, as whom, waiting how long, and
    which keys it offered when they did not come from the inventory."""

    address: str
    port: int
    user: str = ""
    timeout: float = DEFAULT_CONNECT_TIMEOUT
    timeout_from: str = "connect_timeout"  # the setting that chose it, for the message
    offered: str = ""
    public_key: str | None = None  # the key to install on the host (ssh_config's IdentityFile)

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"


def open_error(exc: BaseException, settings: ConnectionSettings, attempt: Attempt) -> BaseException:
    """The jarvisctl error for a failed connect, or `exc` itself when it is not about the host."""
    from paramiko import AuthenticationException, PasswordRequiredException, SSHException

    if isinstance(exc, PasswordRequiredException):  # a key named by ~/.ssh/config
        return AuthenticationError(
            f"{settings.host}: a private key for {attempt.where} is protected by a passphrase, "
            f"which jarvisctl does not ask for; load it into an ssh-agent (ssh-add), or set "
            f"identity_file to a key without a passphrase"
        )
    if isinstance(exc, AuthenticationException) or (
        isinstance(exc, SSHException) and "No authentication methods" in str(exc)
    ):
        return _authentication_error(exc, settings, attempt)
    reason = _unreachable_reason(exc, attempt)
    if reason is None:
        return exc
    return UnreachableError(f"{settings.host}: cannot connect to {attempt.where}: {reason}")


def _authentication_error(
    exc: BaseException, settings: ConnectionSettings, attempt: Attempt
) -> AuthenticationError:
    user, address, port = attempt.user, attempt.address, attempt.port
    if settings.identity_file is not None:
        offered = f"the key {settings.identity_file} (and only that key)"
        public = f"{settings.identity_file}.pub"
    else:
        offered = attempt.offered or "the keys of the ssh-agent and ~/.ssh/id_*"
        public = attempt.public_key or _default_public_key()
    if settings.password_variable is not None:
        offered += f" ({settings.password_variable} is set, but jarvisctl does not use passwords)"
    return AuthenticationError(
        f"{settings.host}: {user}@{address}:{port} refused our credentials ({exc}); "
        f"offered {offered}.\n"
        f"Add the public key to ~{user}/.ssh/authorized_keys on the host, for example with\n"
        f"  ssh-copy-id -i {shlex.quote(public)} -p {port} {shlex.quote(f'{user}@{address}')}\n"
        f"or point identity_file (ansible_ssh_private_key_file) and user (ansible_user) at "
        f"credentials the host accepts."
    )


# The keys ssh-copy-id would pick by default, most preferred first.
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


def _default_public_key() -> str:
    """The first of ~/.ssh/id_{ed25519,ecdsa,rsa}.pub that exists (else the ed25519 one)."""
    for name in _DEFAULT_KEYS:
        if Path(os.path.expanduser(f"~/.ssh/{name}.pub")).exists():
            return f"~/.ssh/{name}.pub"
    return "~/.ssh/id_ed25519.pub"


def _unreachable_reason(exc: BaseException, attempt: Attempt) -> str | None:
    from paramiko import SSHException
    from paramiko.ssh_exception import NoValidConnectionsError

    if isinstance(exc, NoValidConnectionsError):
        codes = {error.errno for error in exc.errors.values()}
        code = errno.ECONNREFUSED if errno.ECONNREFUSED in codes else next(iter(codes), None)
        return _SOCKET_REASONS.get(code or 0, str(exc))
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the address ({exc.strerror}); check address / ansible_host"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return (
            f"no answer within {attempt.timeout:g}s ({attempt.timeout_from}): host down, "
            f"a firewall dropping packets, or a wrong address"
        )
    if isinstance(exc, OSError):
        return _SOCKET_REASONS.get(exc.errno or 0, f"{exc.strerror or exc}")
    if isinstance(exc, EOFError):
        return (
            "the host closed the connection during the SSH handshake "
            "(sshd MaxStartups reached, a firewall, or not an SSH server?)"
        )
    if isinstance(exc, SSHException):
        return _handshake_reason(exc, attempt)
    return None


def _handshake_reason(exc: BaseException, attempt: Attempt) -> str:
    """paramiko reports a silent server as "No existing session" (its handshake wait ran out
    without an error) or as an unreadable banner whose cause is a timeout or an EOF."""
    text = str(exc)
    cause = exc.__context__
    banner = text.startswith("Error reading SSH protocol banner")
    if text == "No existing session" or (
        banner and isinstance(cause, (socket.timeout, TimeoutError))
    ):
        return (
            f"no SSH handshake within {attempt.timeout:g}s ({attempt.timeout_from}): the port "
            f"accepts connections but nothing answered as an SSH server in time (sshd "
            f"overloaded, a proxy or firewall holding the connection, or not an SSH server)"
        )
    # A host that closes before reading our banner resets the connection instead of an EOF.
    if banner and isinstance(cause, (EOFError, ConnectionResetError)):
        return _unreachable_reason(cause, attempt) or text
    return f"SSH handshake failed: {exc}"


def lost_connection_error(
    settings: ConnectionSettings, where: str, command: str, exc: BaseException | None = None
) -> UnreachableError:
    cause = f": {exc}" if exc is not None and str(exc) else ""
    return UnreachableError(
        f"{settings.host}: lost the SSH connection to {where} while running {command!r}{cause}; "
        f"the host may have rebooted or dropped off the network (the command's outcome is unknown)"
    )


def interrupted_error(
    settings: ConnectionSettings, where: str, command: str
) -> SessionInterruptedError:
    return SessionInterruptedError(
        f"{settings.host}: the connection to {where} was closed by jarvisctl while running "
        f"{command!r}; the command was sent TERM on the host (its outcome is unknown)"
    )
