"""The user and session stores on a real server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from services.testing import MakeApp
from services.users import NewUser, SessionStore, UserExistsError, UsersModule, UserStore


@pytest.fixture
async def stores(make_app: MakeApp) -> tuple[UserStore, SessionStore]:
    app = await make_app(UsersModule)
    return app.get(UserStore), app.get(SessionStore)


class TestUserStore:
    async def test_create_then_read_by_id_and_email(self, stores: tuple[UserStore, SessionStore]) -> None:
        """A created user is found by id and by email, whatever the email's case."""
        users, _ = stores
        ada = await users.create(NewUser(email="ada@example.com", name="Ada"))
        assert await users.get(ada.id) == ada
        assert await users.get_by_email("ADA@example.com") == ada
        assert await users.get("missing") is None
        assert await users.count() == 1

    async def test_an_email_has_one_user(self, stores: tuple[UserStore, SessionStore]) -> None:
        """A second sign-up with the same email (other case) is refused, naming the existing user."""
        users, _ = stores
        ada = await users.create(NewUser(email="ada@example.com", name="Ada"))
        with pytest.raises(UserExistsError) as caught:
            await users.create(NewUser(email="Ada@Example.com", name="Other"))
        assert caught.value.user_id == ada.id
        assert await users.count() == 1

    async def test_concurrent_sign_ups_with_one_email(self, stores: tuple[UserStore, SessionStore]) -> None:
        """Of ten simultaneous sign-ups with one email, exactly one succeeds."""
        users, _ = stores
        results = await asyncio.gather(
            *(users.create(NewUser(email="race@example.com", name=f"n{i}")) for i in range(10)),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert all(isinstance(r, UserExistsError) for r in results if isinstance(r, BaseException))
        assert await users.count() == 1

    async def test_all_and_digest_flag(self, stores: tuple[UserStore, SessionStore]) -> None:
        """`all()` yields every user; `set_digest` turns the digest off for one."""
        users, _ = stores
        created = [await users.create(NewUser(email=f"u{i}@example.com", name=f"U{i}")) for i in range(3)]
        assert {u.id async for u in users.all()} == {u.id for u in created}
        updated = await users.set_digest(created[0].id, False)
        assert updated is not None and not updated.digest
        assert (await users.get(created[0].id)).digest is False  # type: ignore[union-attr]
        assert await users.set_digest("missing", False) is None


class TestSessionStore:
    async def test_token_opens_its_session_until_revoked(
        self, stores: tuple[UserStore, SessionStore]
    ) -> None:
        """A token gives back its session; revoked, it gives nothing."""
        _, sessions = stores
        token = await sessions.create("user-1")
        session = await sessions.get(token)
        assert session is not None and session.user_id == "user-1"
        assert await sessions.get("not-a-token") is None
        assert await sessions.revoke(token)
        assert await sessions.get(token) is None
        assert not await sessions.revoke(token)

    async def test_tokens_are_not_stored(
        self, stores: tuple[UserStore, SessionStore], redis: aioredis.Redis, prefix: str
    ) -> None:
        """Only a hash of the token reaches Redis."""
        _, sessions = stores
        token = await sessions.create("user-1")
        dump = ""
        async for key in redis.scan_iter(match=f"{{{prefix}:store.users}}:*"):
            kind = await redis.type(key)
            if kind == b"hash":
                dump += str(await redis.hgetall(key))
            elif kind == b"zset":
                dump += str(await redis.zrange(key, 0, -1))
        assert "user-1" in dump and token not in dump

    async def test_expired_sessions_are_refused_and_purged(
        self, stores: tuple[UserStore, SessionStore]
    ) -> None:
        """An expired session is refused at once; `purge_expired` deletes it and keeps the live ones."""
        _, sessions = stores
        expired = await sessions.create("user-1", ttl=timedelta(seconds=-1))
        live = await sessions.create("user-2", ttl=timedelta(hours=1))
        assert await sessions.get(expired) is None
        assert await sessions.purge_expired() == 1
        assert await sessions.count() == 1
        assert await sessions.get(live) is not None
        assert await sessions.purge_expired(datetime.now(UTC) + timedelta(hours=2)) == 1
        assert await sessions.count() == 0
