"""Config building blocks shared by ``schedules.yaml``'s models and the connectors' own config models.

Kept apart from :mod:`robots.config.models` so a connector module can define its config section without importing
the whole settings model (which imports the connectors' models in turn).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=64)]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Frozen):
    """A secret by reference: an environment variable or a file (mode 0600), never the value itself."""

    @model_validator(mode="after")
    def _exactly_one(self):
        refs = [name for name, value in self if name.endswith(("_env", "_file")) and value]
        if len(refs) != 1:
            names = [name for name in type(self).model_fields if name.endswith(("_env", "_file"))]
            raise ValueError(f"give exactly one of {' or '.join(names)}")
        return self
