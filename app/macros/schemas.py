from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.validation import LINE, TEXT

TITLE_MAX = 200
BODY_MAX = 20_000


def _not_blank(body: str) -> str:
    if not body.strip():
        raise ValueError("the body must not be blank")
    return body


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX), LINE]
# Bodies keep their whitespace: it is the layout of the reply.
Body = Annotated[str, Field(min_length=1, max_length=BODY_MAX), AfterValidator(_not_blank), TEXT]


AreaName = Annotated[str, StringConstraints(min_length=1, max_length=64), LINE]
AreaId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class MacroCreate(BaseModel):
    """`area` is the area's name, as rules and re-routes take it; `area_id` stays accepted."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body
    area: AreaName | None = None
    area_id: AreaId | None = None


class MacroUpdate(BaseModel):
    """Only the fields sent change; an explicit null `area` (or `area_id`) makes the macro area-less."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    area: AreaName | None = None
    area_id: AreaId | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        nulled = [f for f in ("active", "body", "title") if f in self.model_fields_set and getattr(self, f) is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self

    def fields_sent(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class MacroRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    area: str | None  # the area's name
    area_id: int | None
    area_name: str | None  # the same as `area`, kept for earlier clients
    active: bool
    created_at: datetime
    updated_at: datetime


class SuggestionRead(BaseModel):
    macro_id: int
    title: str
    score: float = Field(ge=0.0, le=1.0)
    body: str  # rendered with the ticket's placeholder values
