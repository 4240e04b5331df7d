"""Ansible's ssh argument variables, read as the OpenSSH options jarvisctl applies."""

from __future__ import annotations

import pytest

from jarvisctl.config.inventory.ssh_args import SshArgsError, ssh_options


def test_the_options_that_say_where_and_how_are_kept_in_order() -> None:
    text = (
        "-C -q -o ControlMaster=auto -o ControlPersist=60s "
        "-o ProxyJump=ops@bastion:2200 -o 'ProxyCommand ssh -W %h:%p gw' -oPort=2222 "
        '-o "UserKnownHostsFile=/etc/fleet hosts" -J j2 -i ~/.ssh/fleet -p22 -l deploy '
        "-o 'StrictHostKeyChecking = yes' -o connecttimeout=5 -o ForwardAgent=yes -A "
        "-o 'Port = 2300' -o 'Port\t2400'"
    )
    assert ssh_options(text) == (
        ("ProxyJump", "ops@bastion:2200"),
        ("ProxyCommand", "ssh -W %h:%p gw"),
        ("Port", "2222"),
        ("UserKnownHostsFile", "/etc/fleet hosts"),
        ("ProxyJump", "j2"),
        ("IdentityFile", "~/.ssh/fleet"),
        ("Port", "22"),
        ("User", "deploy"),
        ("StrictHostKeyChecking", "strict"),
        ("ConnectTimeout", "5"),
        ("Port", "2300"),
        ("Port", "2400"),
    )
    assert ssh_options("") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-o StrictHostKeyChecking=no", "never turns the check off or asks"),
        ("-o StrictHostKeyChecking=ask", "never turns the check off or asks"),
        ("-F ~/.ssh/other_config", "`-F` is not an ssh option jarvisctl applies"),
        ("-4", "`-4` is not an ssh option jarvisctl applies"),
        ("-o SendEnv=LANG", "SendEnv is not an ssh_config keyword jarvisctl applies"),
        ("-o 'ProxyCommand=ssh -W %h:%p", "cannot be split into arguments"),
        ("-o", "`-o` needs a value"),
        ("-o ProxyJump=", "has no value"),
        ("-o =x", "is not `Keyword=value`"),
        ("-p abc", "`-p abc`: Port takes a port number from 1 to 65535"),
        ("-p2222x", "Port takes a port number"),
        ("-o 'Port=22 # comment'", "Port takes a port number"),
        ("-o ConnectTimeout=abc", "ConnectTimeout takes seconds"),
        ("-o IdentitiesOnly=maybe", "IdentitiesOnly takes yes or no"),
        ("-o 'User=a\nHostName evil.example'", "has a control character"),
    ],
)
def test_anything_else_is_refused_naming_the_option(text: str, message: str) -> None:
    with pytest.raises(SshArgsError, match=message):
        ssh_options(text)
