"""The vault: AES-GCM sealing bound to its row, key file 0600, env keys, rotation without downtime."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mcphub.runtime.store.models import Credential as CredentialRow
from mcphub.runtime.store.models import HubSecret
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.vault import KEY_FILENAME, Vault, VaultError, generate_key, load_keyring, load_vault, rotate


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    vault = load_vault(tmp_path)
    path = tmp_path / KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kid, blob = vault.seal(b"s3cret", "credential:1:github")
    assert b"s3cret" not in blob
    assert load_vault(tmp_path).open(blob, "credential:1:github") == b"s3cret"
    assert vault.active_key_id == kid


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_vault(tmp_path)
    os.chmod(tmp_path / KEY_FILENAME, 0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        load_vault(tmp_path)


def test_sealed_secrets_are_bound_to_their_context(tmp_path: Path) -> None:
    vault = load_vault(tmp_path)
    _, blob = vault.seal(b"alice's token", "credential:1:github")
    with pytest.raises(VaultError, match="failed authentication"):
        vault.open(blob, "credential:2:github")  # copied onto bob's row
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(VaultError):
        vault.open(tampered, "credential:1:github")


def test_master_key_from_environment(tmp_path: Path) -> None:
    key = generate_key()
    vault = load_vault(tmp_path, {"MCPHUB_SECRET_KEY": key})
    assert not (tmp_path / KEY_FILENAME).exists()
    _, blob = vault.seal(b"x", "ctx")
    assert load_vault(tmp_path, {"MCPHUB_SECRET_KEY": key}).open(blob, "ctx") == b"x"
    passphrase = load_vault(tmp_path, {"MCPHUB_SECRET_KEY": "a passphrase that is long enough to use!"})
    assert passphrase.active_key_id != vault.active_key_id
    with pytest.raises(VaultError, match="too short"):
        load_vault(tmp_path, {"MCPHUB_SECRET_KEY": "short"})
    other = load_vault(tmp_path, {"MCPHUB_SECRET_KEY": generate_key()})
    with pytest.raises(VaultError, match="MCPHUB_SECRET_KEY_PREVIOUS"):
        other.open(blob, "ctx")


def test_replicas_sharing_a_key_file_pick_up_a_new_key(tmp_path: Path) -> None:
    writer, reader = load_vault(tmp_path), load_vault(tmp_path)
    writer.add_key()
    kid, blob = writer.seal(b"new", "ctx")
    assert reader.open(blob, "ctx") == b"new"  # unknown key id: the reader reloads the file at once
    assert reader.keyring.active == kid


async def _seed(tenancy: Tenancy) -> tuple[int, int]:
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    bob = await tenancy.accounts.create_user("bob@example.com", "another long password")
    await tenancy.credentials.set(ada.id, "github", {"token": "ghp_ada_token_value_1234567890"})
    await tenancy.credentials.set(bob.id, "github", {"token": "ghp_bob_token_value_0987654321"})
    await tenancy.credentials.set(bob.id, "jira", {"username": "bob", "password": "hunter2-but-longer"})
    return ada.id, bob.id


async def test_rotate_reencrypts_everything_and_drops_the_old_key(tenancy: Tenancy) -> None:
    ada, bob = await _seed(tenancy)
    key = await tenancy.accounts.create_key(ada, "laptop")  # uses the sealed api-key pepper
    old_kid = tenancy.vault.active_key_id
    other_replica = load_vault(tenancy.data_dir)

    report = await rotate(tenancy.vault, tenancy.db)

    assert report.active_key_id != old_kid and report.remaining == 0 and report.dropped_key_ids == [old_kid]
    assert report.reencrypted == 4  # three credentials + the pepper
    async with tenancy.db.session() as session:
        kids = set((await session.scalars(select(CredentialRow.key_id))).all())
        kids |= set((await session.scalars(select(HubSecret.key_id))).all())
    assert kids == {report.active_key_id}
    assert old_kid not in load_keyring(tenancy.data_dir).keys
    assert (await tenancy.credentials.fields(ada, "github")) == {"token": "ghp_ada_token_value_1234567890"}
    assert (await tenancy.credentials.fields(bob, "jira")) == {"username": "bob", "password": "hunter2-but-longer"}
    assert await tenancy.accounts.authenticate_key(key.secret) is not None
    # A replica started before the rotation reads the new blobs (it reloads the key file on an unknown id).
    async with tenancy.db.session() as session:
        row = await session.scalar(select(CredentialRow).where(CredentialRow.user_id == ada))
        assert row is not None
    assert other_replica.open_json(row.sealed, f"credential:{ada}:github") == {
        "token": "ghp_ada_token_value_1234567890"
    }


async def test_rotate_without_purge_keeps_old_keys_readable(tenancy: Tenancy) -> None:
    ada, _ = await _seed(tenancy)
    old_kid = tenancy.vault.active_key_id
    report = await rotate(tenancy.vault, tenancy.db, purge=False)
    assert report.dropped_key_ids == [] and old_kid in tenancy.vault.keyring.keys
    assert await tenancy.credentials.fields(ada, "github") is not None


async def test_rotate_with_environment_keys(tenancy: Tenancy, monkeypatch: pytest.MonkeyPatch) -> None:
    ada, bob = await _seed(tenancy)
    old = tenancy.vault
    new_key = generate_key()
    # The operator keeps the key file's key as "previous" by exporting it; here: build the env keyring by hand.
    env_vault = Vault(load_keyring(tenancy.data_dir, {"MCPHUB_SECRET_KEY": new_key}))
    env_vault.keyring.keys.update(old.keyring.keys)
    tenancy.credentials.vault = env_vault
    report = await rotate(env_vault, tenancy.db)
    assert report.remaining == 0 and report.dropped_key_ids == []  # env keys are the operator's to remove
    fresh = Vault(load_keyring(tenancy.data_dir, {"MCPHUB_SECRET_KEY": new_key}))
    tenancy.credentials.vault = fresh
    assert await tenancy.credentials.fields(bob, "github") == {"token": "ghp_bob_token_value_0987654321"}
    async with tenancy.db.session() as session:
        await session.execute(update(CredentialRow).values(sealed=b"\x01\x02zz"))
    with pytest.raises(VaultError):
        await tenancy.credentials.fields(ada, "github")
