"""The user and session models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class NewUser(BaseModel):
    """A sign-up: what `POST /users` takes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    name: str = Field(min_length=1, max_length=100)


class User(BaseModel):
    """A registered user. `digest` says whether they get the hourly digest email."""

    id: str
    email: EmailStr
    name: str
    created_at: datetime
    digest: bool = True


class Session(BaseModel):
    """A signed-in session. Only a hash of its token is stored."""

    user_id: str
    created_at: datetime
    expires_at: datetime
