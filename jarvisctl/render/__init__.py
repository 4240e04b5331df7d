"""Renderings of results for people and machines."""
