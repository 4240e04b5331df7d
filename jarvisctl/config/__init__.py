"""The language, loaded: located YAML, validation, models, project configuration, playbooks,
templating, inventories.
"""
