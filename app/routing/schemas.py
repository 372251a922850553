from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.validation import Line, OptionalLine, OptionalText, Text

AREA_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
AREA_NAME_MAX = 64
SURVEY_DELAY_MAX = 60 * 24 * 30  # minutes: a month
AreaName = Field(min_length=1, max_length=AREA_NAME_MAX, pattern=AREA_NAME_PATTERN)


class AreaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = AreaName
    title: Line = Field("", max_length=200)
    description: Text = Field("", max_length=2000)
    first_response_minutes: int = Field(240, ge=1, le=60 * 24 * 90)
    resolution_minutes: int = Field(2880, ge=1, le=60 * 24 * 365)
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    acknowledge: bool = True
    survey_delay_minutes: int = Field(1440, ge=0, le=SURVEY_DELAY_MAX)
    # Mail whose sender failed authentication, routed here, waits in triage instead (issue 14).
    hold_failed_mail: bool = False


class AreaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: OptionalLine = Field(None, max_length=200)
    description: OptionalText = Field(None, max_length=2000)
    first_response_minutes: int | None = Field(None, ge=1, le=60 * 24 * 90)
    resolution_minutes: int | None = Field(None, ge=1, le=60 * 24 * 365)
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    acknowledge: bool | None = None
    survey_delay_minutes: int | None = Field(None, ge=0, le=SURVEY_DELAY_MAX)
    hold_failed_mail: bool | None = None
    active: bool | None = None


class AreaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    title: str
    description: str
    first_response_minutes: int
    resolution_minutes: int
    threshold: float | None
    acknowledge: bool
    survey_delay_minutes: int
    hold_failed_mail: bool
    active: bool  # false exactly while archived
    archived: bool
    archived_at: datetime | None
    created_at: datetime


class AreaArchived(BaseModel):
    area: AreaRead
    # Rules pointing at an archived area are skipped while it stays archived; they are named here.
    skipped_rules: int


class ModelVersionRead(BaseModel):
    version: str
    active: bool
    created_at: datetime
    activated_at: datetime | None
    source: str
    classes: list[str]
    threshold: float
    n_examples: int
    metrics: dict[str, Any]


class ActivationRead(BaseModel):
    model: ModelVersionRead
    created_areas: list[str]


class ActivationRequest(BaseModel):
    """Activation maps the model's classes to existing areas; `create_areas` creates the missing ones."""

    model_config = ConfigDict(extra="forbid")

    create_areas: bool = False


class TrainingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activate: bool = False
    create_areas: bool = False


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    progress: float
    stage: str
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["sender_domain", "keyword"]
    pattern: Line = Field(min_length=1, max_length=255)
    area: Line = AreaName
    position: int = Field(100, ge=0, le=10_000)
    # The priority of the tickets the rule routes (their SLA targets); without it, normal.
    priority: Literal["low", "normal", "high", "urgent"] | None = None


class RuleRead(BaseModel):
    id: int
    kind: str
    pattern: str
    area: str
    position: int
    active: bool
    # A rule whose area is archived is kept but skipped until the area is unarchived.
    area_archived: bool = False
    priority: str | None = None
