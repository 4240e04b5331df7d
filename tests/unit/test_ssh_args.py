"""Ansible's ssh argument variables, read as the OpenSSH options jarvisctl applies."""

from __future__ import annotations

import pytest

from jarvisctl.inventory.ssh_args import SshArgsError, ssh_options


def test_the_options_that_say_where_and_how_are_kept_in_order() -> None:
    text = (
        "-C -q -o ControlMaster=auto -o ControlPersist=60s "
        "-o ProxyJump=ops@bastion:2200 -o 'ProxyCommand ssh -W %h:%p gw' -oPort=2222 "
        '-o "UserKnownHostsFile=/etc/fleet hosts" -J j2 -i ~/.ssh/fleet -p22 -l deploy '
        "-o StrictHostKeyChecking=yes -o connecttimeout=5"
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
        ("ConnectTimeout", "5"),
    )
    assert ssh_options("") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-o StrictHostKeyChecking=no", "never turns them off"),
        ("-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new", "host_key_policy"),
        ("-F ~/.ssh/other_config", "`-F` is not an ssh option jarvisctl applies"),
        ("-o ForwardAgent=yes", "ForwardAgent is not an ssh_config keyword jarvisctl applies"),
        ("-o 'ProxyCommand=ssh -W %h:%p", "cannot be split into arguments"),
        ("-o", "`-o` needs a value"),
        ("-o ProxyJump=", "has no value"),
    ],
)
def test_anything_else_is_refused_naming_the_option(text: str, message: str) -> None:
    with pytest.raises(SshArgsError, match=message):
        ssh_options(text)
