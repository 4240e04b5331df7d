"""What a run leaves behind: the hash-chained audit journal, the run index and the history of
values.
"""
