"""Kinds: the code behind catalogue entries (how to measure, how to fix)."""
