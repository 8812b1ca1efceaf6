"""Building blocks of the API's schemas, bounded to what both databases store (services/bounds.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, field_validator

from services import bounds

# ids are PostgreSQL `integer`s: a larger one is a 422 naming the parameter, not a database error
Id = Annotated[int, Path(ge=1, le=bounds.INT_MAX)]


class Input(BaseModel):
    """A request body whose every text, nested ones and keys included, can be stored: no NUL, no lone surrogate
    (JSON may carry both as \\u escapes)."""

    @field_validator('*')
    @classmethod
    def _storable_texts(cls, value: Any) -> Any:
        if problem := bounds.nested_text_problem(value):
            raise ValueError(problem)
        return value


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    if problem := bounds.json_problem(value):
        raise ValueError(problem)
    return value


StorableJson = Annotated[dict[str, Any], AfterValidator(_storable_json)]


def _header_safe(secret: str) -> str:
    if not bounds.header_safe(secret):
        raise ValueError('must be printable ASCII without spaces, as API keys are: it is sent in an HTTP header')
    return secret


# a provider's API key: anything else cannot go into the Authorization header it is sent in
ApiKeyText = Annotated[str, AfterValidator(_header_safe)]
