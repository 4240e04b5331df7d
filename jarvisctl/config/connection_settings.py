"""How to reach one host: derived from inventory variables, consumed by the connection layer."""

from __future__ import annotations

from typing import Literal

from jarvisctl.core.frozen import frozen

ConnectionType = Literal["ssh", "local"]
HostKeyPolicy = Literal["strict", "accept-new"]

# Seconds to wait for a host to answer when neither the inventory, ssh_config nor jarvisctl.yml
# (`timeouts.connect`) says.
DEFAULT_CONNECT_TIMEOUT = 10.0


@frozen
class ConnectionSettings:
    """Everything needed to open a session to one inventory host."""

    host: str  # the inventory name, used in messages and results
    address: str  # what to connect to (ansible_host / address; defaults to the name)
    port: int | None = None  # None: the Port ssh_config gives the address, else 22
    user: str | None = None
    identity_file: str | None = None
    connection: ConnectionType = "ssh"
    become: bool = False
    become_user: str | None = None
    host_key_policy: HostKeyPolicy = "strict"
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    connect_timeout: float | None = None  # None: ssh_config's ConnectTimeout, else the default
    # jarvisctl.yml's `timeouts.connect`: for a host whose inventory and ssh_config set none
    default_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    # OpenSSH options from the inventory (ansible_ssh_common_args, ...): (keyword, value) lines
    # put ahead of the ssh_config files, as `ssh -o` puts them
    ssh_options: tuple[tuple[str, str], ...] = ()
    # An Ansible password variable set for the host, which jarvisctl does not use (keys only)
    password_variable: str | None = None

    @property
    def where(self) -> str:
        """`address:port`, or the address alone when ssh_config (or 22) will give the port."""
        return self.address if self.port is None else f"{self.address}:{self.port}"
