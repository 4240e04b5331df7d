"""Jinja2 in a sandbox, and the quoting that makes a rendered value safe where it lands in a shell
command.
"""
