"""The use cases the front doors call: run, plan, schedules and the queries the CLI and the daemon
show.
"""
