"""Each play resolved per host: rendered commands, thresholds, ladders, catalogue entries.
`jarvisctl plan` stops here.
"""
