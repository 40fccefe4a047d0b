"""Users and API keys on SQLite and PostgreSQL: admin, passwords, keys, scope, expiry, rotate, revoke."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import ApiKey, ApiKeySecret, User
from mcphub.runtime.tenancy.accounts import KEY_PREFIX, AccountError, Accounts, NotFound
from mcphub.runtime.tenancy.services import Tenancy


async def test_first_user_is_admin_and_emails_are_unique(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    first = await accounts.create_user("Ada@Example.com", "correct horse battery")
    second = await accounts.create_user("bob@example.com", "another long password")
    assert (first.email, first.is_admin) == ("ada@example.com", True)
    assert not second.is_admin
    with pytest.raises(AccountError, match="already exists"):
        await accounts.create_user("ADA@example.com", "whatever password")
    with pytest.raises(AccountError, match="too short"):
        await accounts.create_user("carol@example.com", "short")


async def test_passwords_are_argon2id_and_verified(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    user = await accounts.create_user("ada@example.com", "correct horse battery")
    async with tenancy.db.session() as session:
        stored = await session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored is not None and stored.startswith("$argon2id$")
    assert await accounts.verify_password("ADA@example.com", "correct horse battery") == user
    assert await accounts.verify_password("ada@example.com", "wrong password!") is None
    assert await accounts.verify_password("nobody@example.com", "correct horse battery") is None
    await accounts.set_password(user.id, "a brand new password")
    assert await accounts.verify_password("ada@example.com", "a brand new password") == user


async def test_key_is_shown_once_and_stored_as_keyed_hash(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    user = await accounts.create_user("ada@example.com", "correct horse battery")
    new = await accounts.create_key(user.id, "laptop", scope=["github", "slack__post_message"])
    assert new.secret.startswith(KEY_PREFIX) and len(new.secret) == len(KEY_PREFIX) + 43
    assert new.secret.startswith(new.info.prefix) and new.secret not in repr(new)
    async with tenancy.db.session() as session:
        hashes = (await session.scalars(select(ApiKeySecret.secret_hash))).all()
    assert hashes and all(new.secret not in h and len(h) == 64 for h in hashes)

    principal = await accounts.authenticate_key(new.secret)
    assert principal is not None
    assert (principal.user_id, principal.key_id, principal.is_admin) == (user.id, new.info.id, True)
    assert principal.allows("github", "anything") and principal.allows("slack", "post_message")
    assert not principal.allows("slack", "delete_channel") and not principal.allows("jira")
    assert principal.allows("slack")  # for tools/list: the integration has at least one allowed tool

    assert await accounts.authenticate_key(new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B")) is None
    assert await accounts.authenticate_key("mcp_sk_short") is None
    assert await accounts.authenticate_key("Bearer " + new.secret) is None
    [listed] = await accounts.list_keys(user.id)
    assert (listed.name, listed.prefix, listed.status) == ("laptop", new.info.prefix, "active")


async def test_last_used_is_recorded_off_the_request_path(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    user = await accounts.create_user("ada@example.com", "correct horse battery")
    new = await accounts.create_key(user.id, "laptop")
    assert await accounts.authenticate_key(new.secret) is not None
    await asyncio.gather(*accounts._tasks)  # the background write, awaited here instead of polled
    [listed] = await accounts.list_keys(user.id)
    assert listed.last_used_at is not None


async def test_revoke_is_immediate_even_when_cached(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    user = await accounts.create_user("ada@example.com", "correct horse battery")
    new = await accounts.create_key(user.id, "laptop")
    assert await accounts.authenticate_key(new.secret) is not None  # now cached
    info = await accounts.revoke_key(user.id, new.info.id)
    assert info.status == "revoked"
    assert await accounts.authenticate_key(new.secret) is None
    with pytest.raises(AccountError, match="revoked"):
        await accounts.rotate_key(user.id, new.info.id)


async def test_keys_expire(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    user = await accounts.create_user("ada@example.com", "correct horse battery")
    with pytest.raises(AccountError, match="past"):
        await accounts.create_key(user.id, "old", expires_at=utcnow() - timedelta(seconds=1))
    new = await accounts.create_key(user.id, "ci", expires_at=utcnow() + timedelta(days=1))
    principal = await accounts.authenticate_key(new.secret)
    assert principal is not None and principal.expires_at is not None
    # A cached principal is checked against its expiry on every use, not only when looked up.
    assert principal.expired(utcnow() + timedelta(days=2))
    async with tenancy.db.session() as session:
        await session.execute(
            update(ApiKey).where(ApiKey.id == new.info.id).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    fresh = Accounts(tenancy.db, tenancy.vault)  # another replica: no cache
    assert await fresh.authenticate_key(new.secret) is None
    [listed] = await fresh.list_keys(user.id)
    assert listed.status == "expired"


async def test_rotate_keeps_old_secret_for_the_grace_period(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    user = await accounts.create_user("ada@example.com", "correct horse battery")
    old = await accounts.create_key(user.id, "agent", scope=["github"])
    rotated = await accounts.rotate_key(user.id, old.info.id, grace=timedelta(hours=1))
    assert rotated.info.id == old.info.id and rotated.secret != old.secret and rotated.info.scope == ["github"]
    old_principal = await accounts.authenticate_key(old.secret)
    new_principal = await accounts.authenticate_key(rotated.secret)
    assert old_principal is not None and new_principal is not None
    assert old_principal.expires_at is not None and new_principal.expires_at is None
    assert timedelta(minutes=59) < old_principal.expires_at - utcnow() <= timedelta(hours=1)

    # Grace over (as another replica sees it once the clock passed valid_until):
    async with tenancy.db.session() as session:
        await session.execute(
            update(ApiKeySecret)
            .where(ApiKeySecret.key_id == old.info.id, ApiKeySecret.valid_until.is_not(None))
            .values(valid_until=utcnow() - timedelta(seconds=1))
        )
    fresh = Accounts(tenancy.db, tenancy.vault)
    assert await fresh.authenticate_key(old.secret) is None
    assert await fresh.authenticate_key(rotated.secret) is not None

    # Grace 0: the previous secret stops at once.
    again = await accounts.rotate_key(user.id, old.info.id, grace=timedelta(0))
    assert await accounts.authenticate_key(rotated.secret) is None
    assert await accounts.authenticate_key(again.secret) is not None


async def test_a_user_cannot_touch_another_users_keys(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    ada = await accounts.create_user("ada@example.com", "correct horse battery")
    bob = await accounts.create_user("bob@example.com", "another long password")
    key = await accounts.create_key(ada.id, "laptop")
    for action in (accounts.revoke_key(bob.id, key.info.id), accounts.rotate_key(bob.id, key.info.id)):
        with pytest.raises(NotFound):
            await action
    assert await accounts.list_keys(bob.id) == []
    assert await accounts.authenticate_key(key.secret) is not None


async def test_concurrent_first_signups_make_exactly_one_admin(tenancy: Tenancy) -> None:
    users = await asyncio.gather(
        *(tenancy.accounts.create_user(f"user{i}@example.com", "correct horse battery") for i in range(4))
    )
    assert sum(user.is_admin for user in await tenancy.accounts.list_users()) == 1
    assert len(users) == 4


async def test_revoke_reaches_every_replica_through_redis(
    db_url: str, tmp_path: Path, redis: Redis, namespace: str
) -> None:
    replicas = [
        await Tenancy.open(tmp_path / "data", url=db_url, redis_url="redis://127.0.0.1:6379/0", namespace=namespace)
        for _ in range(2)
    ]
    try:
        a, b = replicas
        user = await a.accounts.create_user("ada@example.com", "correct horse battery")
        key = await a.accounts.create_key(user.id, "laptop")
        assert await a.accounts.authenticate_key(key.secret) is not None
        assert await b.accounts.authenticate_key(key.secret) is not None  # cached on b for 30 s
        await a.accounts.revoke_key(user.id, key.info.id)
        assert await a.accounts.authenticate_key(key.secret) is None
        deadline = asyncio.get_running_loop().time() + 5
        while await b.accounts.authenticate_key(key.secret) is not None:
            assert asyncio.get_running_loop().time() < deadline, "revocation did not reach replica b"
            await asyncio.sleep(0.01)
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_a_replica_without_its_subscription_does_not_trust_its_cache(tenancy: Tenancy) -> None:
    accounts = tenancy.accounts
    user = await accounts.create_user("ada@example.com", "correct horse battery")
    key = await accounts.create_key(user.id, "laptop")
    assert await accounts.authenticate_key(key.secret) is not None
    assert tenancy.feed is not None  # no Redis: other processes' changes come through the database's feed
    tenancy.feed.healthy = False  # as when reading the feed (or a Redis subscription) fails
    async with tenancy.db.session() as session:
        await session.execute(update(ApiKey).where(ApiKey.id == key.info.id).values(revoked_at=utcnow()))
    assert await accounts.authenticate_key(key.secret) is None


async def test_database_factory_reads_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mcphub.runtime.store.db import database_url

    assert database_url(tmp_path).startswith("sqlite+aiosqlite:///") and database_url(tmp_path).endswith("mcphub.db")
    monkeypatch.setenv("MCPHUB_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    assert database_url(tmp_path) == "postgresql+asyncpg://u@h/db"
    db = Database("postgresql+asyncpg://u:pw@h/db")
    assert "pw" not in repr(db)
    await db.aclose()
