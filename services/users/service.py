"""`UserStore` and `SessionStore`: users and sessions in the application's Redis.

Keys (one hash tag, `{prefix:store.users}`):
    :users           hash   user id -> user JSON
    :emails          hash   lowercased email -> user id
    :sessions        hash   sha256(token) -> session JSON
    :sessions:expiry zset   sha256(token) scored by expiry (ms), for the cleanup
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis

from services.storage import StoreKeys, text
from services.users.schemas import NewUser, Session, User

DEFAULT_SESSION_TTL = timedelta(days=7)
_CREATE_USER = (Path(__file__).parent / "create_user.lua").read_text()


class UserExistsError(Exception):
    """A sign-up with an email that already has a user."""

    def __init__(self, email: str, user_id: str) -> None:
        super().__init__(f"a user with email {email!r} already exists (id {user_id})")
        self.email = email
        self.user_id = user_id


class UserStore:
    """Registered users."""

    def __init__(self, redis: Redis, keys: StoreKeys) -> None:
        self._redis = redis
        base = keys.area("users")
        self._users = f"{base}:users"
        self._emails = f"{base}:emails"
        self._create = redis.register_script(_CREATE_USER)

    async def create(self, new: NewUser) -> User:
        """Register a user.

        Raises:
            UserExistsError: the email (compared without case) already has a user.
        """
        user = User(id=uuid.uuid4().hex, email=new.email, name=new.name, created_at=datetime.now(UTC))
        existing = await self._create(
            keys=[self._emails, self._users], args=[user.email.lower(), user.id, user.model_dump_json()]
        )
        if existing:
            raise UserExistsError(user.email, text(existing))
        return user

    async def get(self, user_id: str) -> User | None:
        raw = await self._redis.hget(self._users, user_id)
        return None if raw is None else User.model_validate_json(raw)

    async def get_by_email(self, email: str) -> User | None:
        user_id = await self._redis.hget(self._emails, email.lower())
        return None if user_id is None else await self.get(text(user_id))

    async def count(self) -> int:
        return int(await self._redis.hlen(self._users))

    async def all(self) -> AsyncIterator[User]:
        """Every user, read in batches (HSCAN), in no particular order."""
        async for _, raw in self._redis.hscan_iter(self._users, count=500):
            yield User.model_validate_json(raw)

    async def set_digest(self, user_id: str, enabled: bool) -> User | None:
        """Turn the hourly digest on or off for a user; None if there is no such user."""
        user = await self.get(user_id)
        if user is None:
            return None
        user = user.model_copy(update={"digest": enabled})
        await self._redis.hset(self._users, user_id, user.model_dump_json())
        return user


class SessionStore:
    """Sessions of signed-in users. Expired sessions are refused at once and deleted by `purge_expired`."""

    def __init__(self, redis: Redis, keys: StoreKeys) -> None:
        self._redis = redis
        base = keys.area("users")
        self._sessions = f"{base}:sessions"
        self._expiry = f"{base}:sessions:expiry"

    async def create(self, user_id: str, ttl: timedelta = DEFAULT_SESSION_TTL) -> str:
        """Open a session for `user_id`; returns its token (give it to the client; it is not stored)."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(user_id=user_id, created_at=now, expires_at=now + ttl)
        key = _digest(token)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._sessions, key, session.model_dump_json())
            pipe.zadd(self._expiry, {key: _ms(session.expires_at)})
            await pipe.execute()
        return token

    async def get(self, token: str) -> Session | None:
        """The session of `token`, or None if unknown or expired."""
        raw = await self._redis.hget(self._sessions, _digest(token))
        if raw is None:
            return None
        session = Session.model_validate_json(raw)
        return session if session.expires_at > datetime.now(UTC) else None

    async def revoke(self, token: str) -> bool:
        """End a session (sign out); False if there was none."""
        key = _digest(token)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._sessions, key)
            pipe.zrem(self._expiry, key)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def count(self) -> int:
        return int(await self._redis.hlen(self._sessions))

    async def purge_expired(self, now: datetime | None = None, *, batch: int = 1000) -> int:
        """Delete the sessions that expired before `now` (default: now); returns how many."""
        cutoff = _ms(now or datetime.now(UTC))
        removed = 0
        while True:
            keys = await self._redis.zrangebyscore(self._expiry, "-inf", cutoff, start=0, num=batch)
            if not keys:
                return removed
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self._sessions, *keys)
                pipe.zrem(self._expiry, *keys)
                deleted, _ = await pipe.execute()
            removed += int(deleted)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
