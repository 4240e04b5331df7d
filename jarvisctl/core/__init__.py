"""The first stage: errors (each with its exit code), results and status enums, typed events,
secrets.
"""
