"""Users and their sessions, kept in Redis: what the other services share."""

from services.users.module import UsersModule
from services.users.schemas import NewUser, Session, User
from services.users.service import SessionStore, UserExistsError, UserStore

__all__ = ["NewUser", "Session", "SessionStore", "User", "UserExistsError", "UserStore", "UsersModule"]
