"""The base of every model: frozen, and a mistyped key is an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    # strict: pydantic's lax mode would read `for: true` as 1 and `forks: "20"` as 20, silently;
    # no inf or nan: `1e400` overflows to infinity, and nan compares false with every bound.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )
