"""Running a plan on hosts: one session per host, one round trip for all of a host's checks."""
