"""A command whose text travels on its channel's stdin, not on its command line: the host's
process list (which every user of the host can read) shows only this fixed line while it runs,
never the command, which may carry a secret from the playbook's variables.

`sh -c 'eval "$(cat)"'` reads the whole text before running it, so the command itself finds
its stdin at its end (as with `</dev/null`), and its exit status is the command's.
"""

from __future__ import annotations

COMMAND_ON_STDIN = 'eval "$(cat)"'
