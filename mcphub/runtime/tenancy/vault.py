"""Encrypted secrets at rest: AES-256-GCM under a master key with an id, so keys can rotate.

Where the master key comes from:
- `MCPHUB_SECRET_KEY` (scale-out: every replica gets the same value). Either the URL-safe base64 of
  32 random bytes (`mcphub secrets generate`) or a passphrase of at least 32 characters (stretched with
  HKDF). During a rotation `MCPHUB_SECRET_KEY_PREVIOUS` (comma-separated) keeps older keys readable.
- otherwise a key file, `<data dir>/secret.key`, created on first use with mode 0600 (a JSON keyring
  of id -> key plus the active id). A file readable by group or others is refused.

A sealed blob is `0x01 | len(kid) | kid | nonce(12) | ciphertext+tag`. Every seal binds an *context*
string (e.g. `credential:<user>:<slug>`) as associated data, so a ciphertext copied onto another
user's row by someone with write access to the database fails to open instead of leaking.

Rotation without downtime (`rotate`): a new key becomes active next to the old ones, every row
sealed under an older key is re-encrypted (row by row, compare-and-set on the key id), and old keys
stay in the keyring as decrypt-only until a later purge finds no row still using them. Replicas
sharing the key file notice the new keyring within `reload_interval` seconds, and immediately when
they meet a key id they do not know.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from mcphub.runtime.errors import HubError
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import Credential, HubSecret, OAuthClient, OAuthFlow

__all__ = [
    "KEY_FILENAME",
    "Keyring",
    "RotationReport",
    "Vault",
    "VaultError",
    "credential_context",
    "generate_key",
    "hub_secret",
    "load_vault",
    "oauth_client_context",
    "oauth_flow_context",
    "rotate",
]

logger = logging.getLogger(__name__)

KEY_FILENAME = "secret.key"
_VERSION = 1
_NONCE = 12
_MIN_PASSPHRASE = 32


class VaultError(HubError):
    """The vault cannot seal or open a secret; the message says what to fix."""


def generate_key() -> str:
    """A new master key in the form `MCPHUB_SECRET_KEY` accepts (URL-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _key_id(key: bytes) -> str:
    # A fingerprint, not the key: a one-way hash under a fixed label, 16 hex digits.
    return hashlib.sha256(b"mcphub-vault-key-id\x00" + key).hexdigest()[:16]


def _decode_key(text: str, origin: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    if len(text) < _MIN_PASSPHRASE:
        raise VaultError(
            f"{origin} is too short: use `mcphub secrets generate` for a key, or a passphrase of at least "
            f"{_MIN_PASSPHRASE} characters"
        )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mcphub-vault-v1", info=b"master-key")
    return hkdf.derive(text.encode())


@dataclass(slots=True)
class Keyring:
    """Master keys by id; `active` seals, every key opens."""

    active: str
    keys: dict[str, bytes]
    path: Path | None = None  # the key file it was read from (None: environment)
    mtime: float = 0.0

    @classmethod
    def single(cls, key: bytes, *, path: Path | None = None) -> Keyring:
        kid = _key_id(key)
        return cls(active=kid, keys={kid: key}, path=path)

    def to_json(self) -> str:
        encoded = {kid: base64.urlsafe_b64encode(key).decode() for kid, key in self.keys.items()}
        return json.dumps({"active": self.active, "keys": encoded}, indent=1, sort_keys=True) + "\n"


def _write_key_file(path: Path, keyring: Keyring, *, create: bool) -> None:
    """Write atomically with mode 0600 (the temp file is never readable by anyone else either)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = keyring.to_json().encode()
    if create:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _read_key_file(path: Path) -> Keyring:
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultError(
            f"{path} is readable by other users (mode {oct(info.st_mode & 0o777)}); run `chmod 600 {path}`"
        )
    try:
        data = json.loads(path.read_text())
        keys = {kid: base64.urlsafe_b64decode(value) for kid, value in data["keys"].items()}
        active = data["active"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise VaultError(f"{path} is not a valid mcphub key file ({exc}); restore it from a backup") from exc
    if active not in keys or any(len(key) != 32 for key in keys.values()):
        raise VaultError(f"{path} is not a valid mcphub key file (active key missing or wrong length)")
    return Keyring(active=active, keys=keys, path=path, mtime=info.st_mtime)


def load_keyring(data_dir: Path, environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring from the environment, else from (or newly created in) `<data_dir>/secret.key`."""
    env = os.environ if environ is None else environ
    if env.get("MCPHUB_SECRET_KEY"):
        keyring = Keyring.single(_decode_key(env["MCPHUB_SECRET_KEY"], "MCPHUB_SECRET_KEY"))
        for old in filter(None, (part.strip() for part in env.get("MCPHUB_SECRET_KEY_PREVIOUS", "").split(","))):
            key = _decode_key(old, "MCPHUB_SECRET_KEY_PREVIOUS")
            keyring.keys.setdefault(_key_id(key), key)
        return keyring
    path = data_dir / KEY_FILENAME
    if not path.exists():
        try:
            _write_key_file(path, Keyring.single(os.urandom(32), path=path), create=True)
            logger.info("created a new master key file at %s (mode 0600); back it up", path)
        except FileExistsError:
            pass  # another process created it first: use theirs
    return _read_key_file(path)


@dataclass(slots=True)
class Vault:
    """Seals and opens secrets with the keyring; reloads a shared key file when it changes."""

    keyring: Keyring
    reload_interval: float = 5.0
    _checked: float = field(default_factory=time.monotonic)

    @property
    def active_key_id(self) -> str:
        self._maybe_reload()
        return self.keyring.active

    @property
    def file_backed(self) -> bool:
        return self.keyring.path is not None

    def _maybe_reload(self, force: bool = False) -> None:
        path = self.keyring.path
        if path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < self.reload_interval:
            return
        self._checked = now
        try:
            if path.stat().st_mtime != self.keyring.mtime or force:
                self.keyring = _read_key_file(path)
        except FileNotFoundError as exc:
            raise VaultError(f"the key file {path} disappeared; restore it from a backup") from exc

    def seal(self, plaintext: bytes, context: str) -> tuple[str, bytes]:
        """Encrypt under the active key; returns (key id, blob)."""
        self._maybe_reload()
        kid = self.keyring.active
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self.keyring.keys[kid]).encrypt(nonce, plaintext, context.encode())
        kid_bytes = kid.encode()
        return kid, bytes([_VERSION, len(kid_bytes)]) + kid_bytes + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        """Decrypt a blob sealed for `context`; raises VaultError if it was tampered with or moved."""
        if len(blob) < 2 or blob[0] != _VERSION:
            raise VaultError("sealed secret has an unknown format; was it written by a newer mcphub?")
        end = 2 + blob[1]
        kid = blob[2:end].decode(errors="replace")
        if kid not in self.keyring.keys:
            self._maybe_reload(force=True)
        key = self.keyring.keys.get(kid)
        if key is None:
            raise VaultError(
                f"secret sealed with master key {kid}, which this hub does not have; set MCPHUB_SECRET_KEY_PREVIOUS "
                "to the old key (or restore the key file) and run `mcphub secrets rotate`"
            )
        nonce, sealed = blob[end : end + _NONCE], blob[end + _NONCE :]
        try:
            return AESGCM(key).decrypt(nonce, sealed, context.encode())
        except InvalidTag as exc:
            raise VaultError(f"sealed secret for {context.split(':', 1)[0]} failed authentication") from exc

    def seal_json(self, value: Any, context: str) -> tuple[str, bytes]:
        return self.seal(json.dumps(value, separators=(",", ":")).encode(), context)

    def open_json(self, blob: bytes, context: str) -> Any:
        return json.loads(self.open(blob, context))

    def add_key(self, key: bytes | None = None) -> str:
        """Make a new key active (key file: written atomically; environment: in memory only). Returns its id."""
        self._maybe_reload(force=True)
        key = key or os.urandom(32)
        kid = _key_id(key)
        keys = {**self.keyring.keys, kid: key}
        updated = Keyring(active=kid, keys=keys, path=self.keyring.path)
        if updated.path is not None:
            _write_key_file(updated.path, updated, create=False)
            updated.mtime = updated.path.stat().st_mtime
        self.keyring = updated
        return kid

    def drop_keys(self, key_ids: set[str]) -> None:
        """Forget decrypt-only keys (only after nothing is sealed with them any more)."""
        self._maybe_reload(force=True)
        if self.keyring.active in key_ids:
            raise VaultError("refusing to drop the active key")
        keys = {kid: key for kid, key in self.keyring.keys.items() if kid not in key_ids}
        updated = Keyring(active=self.keyring.active, keys=keys, path=self.keyring.path)
        if updated.path is not None:
            _write_key_file(updated.path, updated, create=False)
            updated.mtime = updated.path.stat().st_mtime
        self.keyring = updated


def load_vault(data_dir: Path, environ: Mapping[str, str] | None = None) -> Vault:
    """The vault configured by `MCPHUB_SECRET_KEY` or the data dir's key file."""
    return Vault(load_keyring(data_dir, environ))


# --- what is sealed where (the associated-data contexts) and rotation over the database -----------------


def credential_context(user_id: int, slug: str) -> str:
    return f"credential:{user_id}:{slug}"


def oauth_client_context(slug: str) -> str:
    return f"oauth-client:{slug}"


def oauth_flow_context(state_hash: str) -> str:
    return f"oauth-flow:{state_hash}"


def hub_secret_context(name: str) -> str:
    return f"hub-secret:{name}"


async def hub_secret(db: Database, vault: Vault, name: str, size: int = 32) -> bytes:
    """A hub-wide random secret kept sealed in the database (created once, shared by every replica)."""
    async with db.session() as session:
        row = await session.get(HubSecret, name)
        if row is not None:
            return vault.open(row.sealed, hub_secret_context(name))
    value = os.urandom(size)
    kid, sealed = vault.seal(value, hub_secret_context(name))
    try:
        async with db.session() as session:
            session.add(HubSecret(name=name, key_id=kid, sealed=sealed, created_at=utcnow()))
    except IntegrityError:
        pass  # another replica created it at the same moment: read theirs
    async with db.session() as session:
        row = await session.get(HubSecret, name)
        assert row is not None
        return vault.open(row.sealed, hub_secret_context(name))


@dataclass(frozen=True, slots=True)
class RotationReport:
    active_key_id: str
    reencrypted: int
    remaining: int  # rows still under an older key (0 after a successful rotation)
    dropped_key_ids: list[str]


@dataclass(frozen=True, slots=True)
class _Sealed:
    """One table column holding vault blobs."""

    model: Any
    pk: str
    column: str

    def context(self, row: Any) -> str:
        if self.model is Credential:
            return credential_context(row.user_id, row.slug)
        if self.model is OAuthClient:
            return oauth_client_context(row.slug)
        if self.model is OAuthFlow:
            return oauth_flow_context(row.state_hash)
        return hub_secret_context(row.name)


_SEALED = (
    _Sealed(OAuthFlow, "state_hash", "sealed"),
    _Sealed(Credential, "id", "sealed"),
    _Sealed(OAuthClient, "slug", "sealed_secret"),
    _Sealed(HubSecret, "name", "sealed"),
)


async def _reencrypt(vault: Vault, db: Database, batch: int) -> int:
    active = vault.active_key_id
    done = 0
    for target in _SEALED:
        key_col = target.model.key_id
        seen: set[Any] = set()
        while True:
            async with db.session() as session:
                pk_col = getattr(target.model, target.pk)
                query = select(target.model).where(key_col.is_not(None), key_col != active)
                if seen:
                    query = query.where(pk_col.not_in(seen))
                rows = (await session.scalars(query.order_by(pk_col).limit(batch))).all()
                for row in rows:
                    seen.add(getattr(row, target.pk))
                    blob = getattr(row, target.column)
                    if blob is None:
                        continue
                    context = target.context(row)
                    kid, sealed = vault.seal(vault.open(blob, context), context)
                    # Compare-and-set: a row rewritten meanwhile (new credential) is left as it is now.
                    result = await session.execute(
                        update(target.model)
                        .where(pk_col == getattr(row, target.pk), key_col == row.key_id)
                        .values({target.column: sealed, "key_id": kid})
                        .execution_options(synchronize_session=False)
                    )
                    done += result.rowcount  # type: ignore[attr-defined]
            if len(rows) < batch:
                break
    return done


async def _remaining(vault: Vault, db: Database) -> int:
    active = vault.active_key_id
    total = 0
    async with db.session() as session:
        for target in _SEALED:
            key_col = target.model.key_id
            total += (
                await session.scalar(
                    select(func.count()).select_from(target.model).where(key_col.is_not(None), key_col != active)
                )
                or 0
            )
    return total


async def rotate(
    vault: Vault, db: Database, *, settle: float = 0.0, purge: bool = True, batch: int = 200
) -> RotationReport:
    """Re-encrypt every secret under a new active key, with no moment where a secret cannot be read.

    With a key file a new key is generated. With `MCPHUB_SECRET_KEY` the operator has already made the new
    key active (old one in `MCPHUB_SECRET_KEY_PREVIOUS`); this re-encrypts under it. `settle` seconds pass
    between the two passes so replicas pick up the new key file before old keys are dropped.
    """
    old_ids = set(vault.keyring.keys)
    if vault.file_backed:
        vault.add_key()
    old_ids.discard(vault.active_key_id)
    count = await _reencrypt(vault, db, batch)
    if settle > 0:
        await asyncio.sleep(settle)
    count += await _reencrypt(vault, db, batch)  # stragglers sealed by replicas that had not reloaded yet
    remaining = await _remaining(vault, db)
    dropped: list[str] = []
    if purge and remaining == 0 and vault.file_backed and old_ids:
        vault.drop_keys(old_ids)
        dropped = sorted(old_ids)
    logger.info(
        "vault rotation: active key %s, %d secrets re-encrypted, %d remaining", vault.active_key_id, count, remaining
    )
    return RotationReport(vault.active_key_id, count, remaining, dropped)
