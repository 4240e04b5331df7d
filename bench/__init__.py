"""jarvisctl's benchmark against OpenSSH, ansible-core and pyinfra on a fleet of real sshd hosts."""
