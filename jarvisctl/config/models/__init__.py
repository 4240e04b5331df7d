"""The YAML language as validated, frozen pydantic models."""
