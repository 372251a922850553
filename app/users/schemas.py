from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.validation import Line


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    email: Line = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Literal["agent", "admin"] = "agent"


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    role: str
    active: bool
    created_at: datetime
    revoked_at: datetime | None


class UserWithToken(UserRead):
    token: str = Field(description="Shown once; only its hash is stored")
