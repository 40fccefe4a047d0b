"""The hub as an MCP authorization server: clients, consent, codes, access and refresh tokens.

Implements the MCP SDK's `OAuthAuthorizationServerProvider` protocol (the SDK's handlers do the
request parsing, PKCE S256 check and redirect-URI comparison; `web/oauth_pages.py` mounts them and
renders the sign-in and consent pages), persisted in the tenancy database so any replica can finish
any step of a flow:

- clients register dynamically (RFC 7591); a confidential client's secret is kept as HMAC-SHA256
  under a hub pepper, like API keys, and checked by `HashedClientAuthenticator`;
- or, preferred by the MCP spec, a client's `client_id` is an https URL naming its Client ID Metadata
  Document (`cimd.py`): fetched (strictly, cached) whenever the client shows up, always a public
  client; its metadata is also kept in `mcp_clients` so grants and codes can refer to it;
- `authorize` does not decide anything: it signs the validated request and sends the browser to the
  consent page; only a signed-in user's approval mints a code (`approve`);
- codes are random, stored hashed, single use (an atomic update), valid `CODE_TTL`, bound to client,
  redirect URI, PKCE challenge and resource; presenting a used code revokes what it issued
  (RFC 6749 §4.1.2);
- access tokens are opaque (`mcp_at_…`), hashed, valid `ACCESS_TTL`, bound to the hub's `/mcp`
  resource (RFC 8707): `verify_access_token` refuses a token of any other audience;
- refresh tokens (`mcp_rt_…`) rotate on every use; a replayed one revokes the whole grant;
- revoking either kind of token revokes its grant (every token of that consent); so does
  `revoke_grant` (the CLI's `mcphub oauth revoke-grant`, the JSON API's DELETE /api/v1/oauth/grants/{id}).
  Access tokens are checked against the database on every request, so a revocation is effective at once
  on every replica; `list_grants` shows what each client may use and when it last did.

A token is turned into the same `KeyPrincipal` an API key produces (`key_id` is the negated grant id,
so OAuth grants never share a rate-limit bucket or usage row with an API key). Tokens are for the
hub only; nothing here is ever sent to an upstream.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    IdentityAssertionParams,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request

from mcphub.runtime.oauth.cimd import ClientMetadataError, ClientMetadataFetcher, is_client_id_url
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import IssuedToken, McpAuthCode, McpClient, McpGrant, User
from mcphub.runtime.tenancy.accounts import KEY_PREFIX, KeyPrincipal, NotFound
from mcphub.runtime.tenancy.vault import Vault, hub_secret

__all__ = [
    "ACCESS_PREFIX",
    "ACCESS_TTL",
    "CODE_TTL",
    "REFRESH_PREFIX",
    "REFRESH_TTL",
    "SCOPE",
    "AuthServer",
    "GrantInfo",
    "HashedClientAuthenticator",
    "PendingAuthorization",
    "authenticate_bearer",
    "list_grants",
    "revoke_grant",
]

logger = logging.getLogger(__name__)

ACCESS_PREFIX = "mcp_at_"
REFRESH_PREFIX = "mcp_rt_"
CODE_PREFIX = "mcp_ac_"
ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=30)
CODE_TTL = timedelta(minutes=5)
CONSENT_TTL = 600  # seconds a consent page stays valid
SCOPE = "mcp"  # the one scope: use the hub's /mcp endpoint as the user (enablement and policy still apply)
_DANGEROUS_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})
_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43,128}")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_TOUCH_EVERY = 60.0  # seconds between last_used_at writes per grant and process


class HubAuthCode(AuthorizationCode):
    user_id: int


class HubRefreshToken(RefreshToken):
    grant_id: int
    user_id: int


class HubAccessToken(AccessToken):
    grant_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """A validated authorization request waiting for the user's decision on the consent page."""

    client_id: str
    client_name: str
    redirect_uri: str
    redirect_uri_explicit: bool
    code_challenge: str
    state: str | None
    scopes: list[str]
    resource: str


def _token_fields(raw: str, row: IssuedToken, grant: McpGrant) -> dict[str, Any]:
    """What the SDK's token models carry, from a stored token and its grant."""
    return {
        "token": raw,
        "client_id": grant.client_id,
        "scopes": list(grant.scopes),
        "expires_at": int(row.expires_at.timestamp()),
        "resource": grant.resource,
        "subject": str(grant.user_id),
        "grant_id": grant.id,
        "user_id": grant.user_id,
    }


def _random(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def check_redirect_uri(uri: str) -> None:
    """Refuse redirect URIs that could leak a code: plain http off loopback, script and file schemes."""
    if len(uri) > 2000:
        raise RegistrationError("invalid_redirect_uri", "redirect URIs are limited to 2000 characters")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or scheme in _DANGEROUS_SCHEMES or parts.fragment:
        raise RegistrationError("invalid_redirect_uri", f"redirect URI {uri!r} is not allowed")
    if scheme == "http" and (parts.hostname or "") not in _LOOPBACK:
        raise RegistrationError(
            "invalid_redirect_uri", f"redirect URI {uri!r}: use https (plain http only for localhost)"
        )


@dataclass(frozen=True, slots=True)
class GrantInfo:
    """What may be shown about one user's consent to one MCP client (never a token)."""

    id: int
    user_id: int
    user_email: str
    client_id: str
    client_name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        return "revoked" if self.revoked_at is not None else "active"


async def list_grants(db: Database, *, user_id: int | None = None, include_revoked: bool = False) -> list[GrantInfo]:
    """The grants the hub issued to MCP clients: one user's (or everyone's, `user_id` None), newest first."""
    query = (
        select(McpGrant, User.email, McpClient.metadata_json)
        .join(User, User.id == McpGrant.user_id)
        .join(McpClient, McpClient.client_id == McpGrant.client_id)
        .order_by(McpGrant.id.desc())
    )
    if user_id is not None:
        query = query.where(McpGrant.user_id == user_id)
    if not include_revoked:
        query = query.where(McpGrant.revoked_at.is_(None))
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [
        GrantInfo(
            id=grant.id,
            user_id=grant.user_id,
            user_email=email,
            client_id=grant.client_id,
            client_name=str((metadata or {}).get("client_name") or grant.client_id),
            scopes=list(grant.scopes),
            created_at=grant.created_at,
            last_used_at=grant.last_used_at,
            revoked_at=grant.revoked_at,
        )
        for grant, email, metadata in rows
    ]


async def revoke_grant(db: Database, grant_id: int, *, user_id: int | None = None) -> GrantInfo:
    """End a grant (its access and refresh tokens stop working now); `user_id` given: only that user's grant.

    Another user's grant is "not found", never "forbidden".
    """
    async with db.session() as session:
        query = select(McpGrant).where(McpGrant.id == grant_id)
        if user_id is not None:
            query = query.where(McpGrant.user_id == user_id)
        grant = await session.scalar(query)
        if grant is None:
            raise NotFound(f"no OAuth grant {grant_id}; `mcphub oauth grants` lists them")
        if grant.revoked_at is None:
            grant.revoked_at = utcnow()
    found = [g for g in await list_grants(db, user_id=grant.user_id, include_revoked=True) if g.id == grant_id]
    return found[0]


class AuthServer:
    """The provider behind /oauth/* (see the module docstring); one per hub process and issuer."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        *,
        issuer: str,
        resource: str | None = None,
        access_ttl: timedelta = ACCESS_TTL,
        refresh_ttl: timedelta = REFRESH_TTL,
        code_ttl: timedelta = CODE_TTL,
        client_metadata: ClientMetadataFetcher | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self.issuer = issuer.rstrip("/")
        self.resource = (resource or f"{self.issuer}/mcp").rstrip("/")
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self._pepper: bytes | None = None
        self._signer: URLSafeTimedSerializer | None = None
        self._touched: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.client_metadata_fetcher = client_metadata or ClientMetadataFetcher()
        self._stored_metadata: dict[str, dict[str, Any]] = {}  # what this process last wrote to mcp_clients

    async def aclose(self) -> None:
        """Wait for the last-use writes still in flight; close the metadata fetcher."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client_metadata_fetcher.aclose()

    # --- hashing and signing -------------------------------------------------------------------------

    async def _hash(self, raw: str) -> str:
        if self._pepper is None:
            self._pepper = await hub_secret(self.db, self.vault, "mcp-oauth-hmac")
        return hmac.new(self._pepper, raw.encode(), hashlib.sha256).hexdigest()

    async def _consent_signer(self) -> URLSafeTimedSerializer:
        if self._signer is None:
            key = await hub_secret(self.db, self.vault, "mcp-oauth-consent")
            self._signer = URLSafeTimedSerializer(key, salt="mcphub-oauth-consent")
        return self._signer

    # --- clients -------------------------------------------------------------------------------------

    async def client_metadata(self, url: str) -> OAuthClientInformationFull:
        """The client a Client ID Metadata Document describes; raises ClientMetadataError saying why it is unusable."""
        client = await self.client_metadata_fetcher.get(url)
        for uri in client.redirect_uris or []:
            try:
                check_redirect_uri(str(uri))
            except RegistrationError as exc:
                raise ClientMetadataError(f"{url}: {exc.error_description}") from None
        # The one scope this hub offers; the SDK refuses any scope a client's metadata does not list.
        client = client.model_copy(update={"scope": SCOPE})
        metadata = client.model_dump(mode="json", exclude_none=True, exclude={"client_id", "client_secret"})
        if self._stored_metadata.get(url) != metadata:
            if len(self._stored_metadata) >= 1000:
                self._stored_metadata.clear()
            await self._store_client_metadata(url, metadata)
        return client

    async def _store_client_metadata(self, url: str, metadata: dict[str, Any]) -> None:
        """Keep the document's metadata in mcp_clients (grants and codes reference the row; names are shown)."""
        try:
            async with self.db.session() as session:
                row = await session.get(McpClient, url)
                if row is None:
                    session.add(McpClient(client_id=url, metadata_json=metadata, secret_hash=None, created_at=utcnow()))
                else:
                    row.metadata_json, row.secret_hash = metadata, None
        except IntegrityError:  # another replica inserted it at the same moment: theirs is as good
            pass
        self._stored_metadata[url] = metadata

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if is_client_id_url(client_id):
            try:
                return await self.client_metadata(client_id)
            except ClientMetadataError as exc:
                logger.info("refusing client %s: %s", client_id, exc)
                return None
        async with self.db.session() as session:
            row = await session.get(McpClient, client_id)
        if row is None:
            return None
        return OAuthClientInformationFull.model_validate({**row.metadata_json, "client_id": row.client_id})

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        """Store a dynamically registered client; its secret (if any) only as a keyed hash."""
        for uri in client_info.redirect_uris or []:
            check_redirect_uri(str(uri))
        if not client_info.redirect_uris:
            raise RegistrationError("invalid_redirect_uri", "register at least one redirect URI")
        secret_hash = await self._hash(client_info.client_secret) if client_info.client_secret else None
        metadata = client_info.model_dump(mode="json", exclude_none=True, exclude={"client_id", "client_secret"})
        async with self.db.session() as session:
            session.add(
                McpClient(
                    client_id=client_info.client_id,
                    metadata_json=metadata,
                    secret_hash=secret_hash,
                    created_at=utcnow(),
                )
            )

    async def check_client_secret(self, client_id: str, secret: str | None) -> bool:
        """Whether `secret` is the client's (public clients: whether none was sent)."""
        async with self.db.session() as session:
            stored = await session.scalar(select(McpClient.secret_hash).where(McpClient.client_id == client_id))
        if stored is None:
            return True
        return secret is not None and hmac.compare_digest(stored, await self._hash(secret))

    # --- authorization -------------------------------------------------------------------------------

    def _resource_of(self, requested: str | None) -> str:
        if requested is None:
            return self.resource
        if requested.rstrip("/") != self.resource:
            raise AuthorizeError("invalid_target", f"this server only issues tokens for {self.resource}")
        return self.resource

    @staticmethod
    def _scopes_of(requested: list[str] | None) -> list[str]:
        scopes = requested or [SCOPE]
        unknown = sorted(set(scopes) - {SCOPE})
        if unknown:
            raise AuthorizeError("invalid_scope", f"unknown scope(s) {', '.join(unknown)}; this hub offers {SCOPE!r}")
        return [SCOPE]

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        """Validate what the SDK could not, then send the browser to the consent page (nothing is issued yet)."""
        if not _CHALLENGE_RE.fullmatch(params.code_challenge):
            raise AuthorizeError("invalid_request", "code_challenge must be an S256 PKCE challenge (RFC 7636 §4.2)")
        resource = self._resource_of(params.resource)
        scopes = self._scopes_of(params.scopes)
        payload = {
            "c": client.client_id,
            "r": str(params.redirect_uri),
            "x": params.redirect_uri_provided_explicitly,
            "p": params.code_challenge,
            "s": params.state,
            "o": scopes,
            "a": resource,
        }
        token = (await self._consent_signer()).dumps(payload)
        return f"{self.issuer}/oauth/consent?{urlencode({'request': token})}"

    async def pending(self, token: str) -> PendingAuthorization | None:
        """The authorization request a consent page is about (None: tampered, expired or client gone)."""
        try:
            data = (await self._consent_signer()).loads(token, max_age=CONSENT_TTL)
            client = await self.get_client(str(data["c"]))
            if client is None:
                return None
            return PendingAuthorization(
                client_id=client.client_id,
                client_name=client.client_name or client.client_id,
                redirect_uri=str(data["r"]),
                redirect_uri_explicit=bool(data["x"]),
                code_challenge=str(data["p"]),
                state=None if data["s"] is None else str(data["s"]),
                scopes=[str(s) for s in data["o"]],
                resource=str(data["a"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def _redirect(self, pending: PendingAuthorization, **params: str | None) -> str:
        # RFC 9207: the issuer goes with every authorization response, so a client talking to several
        # authorization servers can tell which one answered.
        return construct_redirect_uri(pending.redirect_uri, **params, state=pending.state, iss=self.issuer)

    async def approve(self, user_id: int, pending: PendingAuthorization) -> str:
        """The user consented: mint a code and return where to send the browser."""
        code = _random(CODE_PREFIX)
        async with self.db.session() as session:
            session.add(
                McpAuthCode(
                    code_hash=await self._hash(code),
                    client_id=pending.client_id,
                    user_id=user_id,
                    scopes=pending.scopes,
                    resource=pending.resource,
                    redirect_uri=pending.redirect_uri,
                    redirect_uri_explicit=pending.redirect_uri_explicit,
                    code_challenge=pending.code_challenge,
                    expires_at=utcnow() + self.code_ttl,
                    used_at=None,
                    grant_id=None,
                )
            )
        return self._redirect(pending, code=code)

    def deny(self, pending: PendingAuthorization) -> str:
        return self._redirect(pending, error="access_denied", error_description="the user declined")

    # --- codes ---------------------------------------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> HubAuthCode | None:
        code_hash = await self._hash(authorization_code)
        async with self.db.session() as session:
            row = await session.get(McpAuthCode, code_hash)
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            if row.grant_id is not None:  # a replay: whatever the first use issued is compromised
                await self._revoke_grant(row.grant_id)
            return None
        return HubAuthCode(
            code=authorization_code,
            scopes=list(row.scopes),
            expires_at=row.expires_at.timestamp(),
            client_id=row.client_id,
            code_challenge=row.code_challenge,
            redirect_uri=AnyUrl(row.redirect_uri),
            redirect_uri_provided_explicitly=row.redirect_uri_explicit,
            resource=row.resource,
            subject=str(row.user_id),
            user_id=row.user_id,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: HubAuthCode
    ) -> OAuthToken:
        code_hash = await self._hash(authorization_code.code)
        now = utcnow()
        async with self.db.session() as session:
            # Single use even when two exchanges race: only one update finds used_at still empty.
            claimed = await session.execute(
                update(McpAuthCode)
                .where(McpAuthCode.code_hash == code_hash, McpAuthCode.used_at.is_(None), McpAuthCode.expires_at > now)
                .values(used_at=now)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise TokenError("invalid_grant", "authorization code was already used or has expired")
            grant = McpGrant(
                user_id=authorization_code.user_id,
                client_id=client.client_id,
                scopes=authorization_code.scopes,
                resource=authorization_code.resource or self.resource,
                created_at=now,
                revoked_at=None,
            )
            session.add(grant)
            await session.flush()
            await session.execute(
                update(McpAuthCode).where(McpAuthCode.code_hash == code_hash).values(grant_id=grant.id)
            )
            return await self._issue(session, grant.id, grant.scopes, now)

    async def _issue(self, session: Any, grant_id: int, scopes: list[str], now: datetime) -> OAuthToken:
        access, refresh = _random(ACCESS_PREFIX), _random(REFRESH_PREFIX)
        session.add_all(
            [
                IssuedToken(
                    token_hash=await self._hash(access),
                    kind="access",
                    grant_id=grant_id,
                    created_at=now,
                    expires_at=now + self.access_ttl,
                    used_at=None,
                ),
                IssuedToken(
                    token_hash=await self._hash(refresh),
                    kind="refresh",
                    grant_id=grant_id,
                    created_at=now,
                    expires_at=now + self.refresh_ttl,
                    used_at=None,
                ),
            ]
        )
        return OAuthToken(
            access_token=access,
            expires_in=int(self.access_ttl.total_seconds()),
            scope=" ".join(scopes),
            refresh_token=refresh,
        )

    # --- tokens --------------------------------------------------------------------------------------

    async def _token_row(self, raw: str, kind: str) -> tuple[IssuedToken, McpGrant] | None:
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(IssuedToken, McpGrant)
                    .join(McpGrant, McpGrant.id == IssuedToken.grant_id)
                    .where(IssuedToken.token_hash == await self._hash(raw), IssuedToken.kind == kind)
                )
            ).first()
        return (row[0], row[1]) if row is not None else None

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> HubRefreshToken | None:
        if not refresh_token.startswith(REFRESH_PREFIX):
            return None
        found = await self._token_row(refresh_token, "refresh")
        if found is None:
            return None
        token, grant = found
        if grant.client_id != client.client_id or grant.revoked_at is not None:
            return None
        if token.used_at is not None:  # a rotated-out refresh token came back: assume it was stolen
            await self._revoke_grant(grant.id)
            return None
        if token.expires_at <= utcnow():
            return None
        return HubRefreshToken(**_token_fields(refresh_token, token, grant))

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: HubRefreshToken, scopes: list[str]
    ) -> OAuthToken:
        """Rotate: the presented refresh token is spent, a new access and refresh token are issued."""
        token_hash = await self._hash(refresh_token.token)
        now = utcnow()
        async with self.db.session() as session:
            spent = await session.execute(
                update(IssuedToken)
                .where(IssuedToken.token_hash == token_hash, IssuedToken.used_at.is_(None))
                .values(used_at=now)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise TokenError("invalid_grant", "refresh token was already used")
            return await self._issue(session, refresh_token.grant_id, scopes or refresh_token.scopes, now)

    async def load_access_token(self, token: str) -> HubAccessToken | None:
        """A live access token of any audience (the audience is checked by `verify_access_token`)."""
        if not token.startswith(ACCESS_PREFIX):
            return None
        found = await self._token_row(token, "access")
        if found is None:
            return None
        row, grant = found
        if grant.revoked_at is not None or row.expires_at <= utcnow():
            return None
        return HubAccessToken(**_token_fields(token, row, grant), claims={"iss": self.issuer})

    async def verify_access_token(self, raw: str) -> KeyPrincipal | None:
        """The principal of a live access token issued for this hub's resource; None otherwise."""
        token = await self.load_access_token(raw)
        if token is None or token.resource != self.resource:
            return None
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(User.is_admin, McpClient.metadata_json)
                    .select_from(McpGrant)
                    .join(User, User.id == McpGrant.user_id)
                    .join(McpClient, McpClient.client_id == McpGrant.client_id)
                    .where(McpGrant.id == token.grant_id)
                )
            ).first()
        if row is None:
            return None
        is_admin, metadata = row
        self._touch(token.grant_id)
        name = str((metadata or {}).get("client_name") or token.client_id)
        expires = datetime.fromtimestamp(token.expires_at or time.time(), tz=UTC)
        return KeyPrincipal(
            user_id=token.user_id,
            key_id=-token.grant_id,
            key_name=f"oauth:{name}",
            is_admin=bool(is_admin),
            scope=None,
            expires_at=expires,
        )

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "this hub does not accept identity assertions")

    async def revoke_token(self, token: HubAccessToken | HubRefreshToken) -> None:
        """RFC 7009: revoking either token ends the whole grant (its access and refresh tokens)."""
        await self._revoke_grant(token.grant_id)

    async def _revoke_grant(self, grant_id: int) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(McpGrant)
                .where(McpGrant.id == grant_id, McpGrant.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    async def revoke_user_grants(self, user_id: int, client_id: str | None = None) -> int:
        """End a user's OAuth grants (all, or one client's); returns how many were live."""
        condition = [McpGrant.user_id == user_id, McpGrant.revoked_at.is_(None)]
        if client_id is not None:
            condition.append(McpGrant.client_id == client_id)
        async with self.db.session() as session:
            result = await session.execute(update(McpGrant).where(*condition).values(revoked_at=utcnow()))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _touch(self, grant_id: int) -> None:
        """Record a grant's last use at most once a minute per process, off the request path."""
        now = time.monotonic()
        if now - self._touched.get(grant_id, -_TOUCH_EVERY) < _TOUCH_EVERY:
            return
        if len(self._touched) >= 50_000:
            self._touched.clear()
        self._touched[grant_id] = now
        task = asyncio.create_task(self._write_last_used(grant_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_last_used(self, grant_id: int) -> None:
        try:
            async with self.db.session() as session:
                await session.execute(update(McpGrant).where(McpGrant.id == grant_id).values(last_used_at=utcnow()))
        except Exception:
            logger.exception("could not record last use of OAuth grant %s", grant_id)

    async def purge(self) -> None:
        """Delete expired codes and tokens (housekeeping; correctness never depends on it)."""
        now = utcnow()
        async with self.db.session() as session:
            await session.execute(delete(McpAuthCode).where(McpAuthCode.expires_at < now - timedelta(days=1)))
            await session.execute(delete(IssuedToken).where(IssuedToken.expires_at < now))


class HashedClientAuthenticator(ClientAuthenticator):
    """The SDK's client authentication at /token and /revoke, against hashed secrets."""

    def __init__(self, server: AuthServer) -> None:
        super().__init__(server)
        self.server = server

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        form = await request.form()
        client_id = form.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise AuthenticationError("Missing client_id")
        client = await self.server.get_client(client_id)
        if client is None:
            raise AuthenticationError("Invalid client_id")
        secret: str | None = None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                basic_id, _, basic_secret = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthenticationError("Invalid Basic authentication header") from None
            if unquote(basic_id) != client_id:
                raise AuthenticationError("Client ID mismatch in Basic auth")
            secret = unquote(basic_secret)
        else:
            posted = form.get("client_secret")
            secret = posted if isinstance(posted, str) and posted else None
        if not await self.server.check_client_secret(client_id, secret):
            raise AuthenticationError("Invalid client credentials")
        return client


async def authenticate_bearer(tenancy: Any, raw: str) -> KeyPrincipal | None:
    """The principal of a Bearer credential for /mcp: an API key (`mcp_sk_…`) or an OAuth access token.

    `tenancy.authserver` is set by `web.oauth_pages.create_oauth_routes`; without it only API keys work.
    """
    if raw.startswith(KEY_PREFIX):
        principal: KeyPrincipal | None = await tenancy.accounts.authenticate_key(raw)
        return principal
    server: AuthServer | None = getattr(tenancy, "authserver", None)
    if server is not None and raw.startswith(ACCESS_PREFIX):
        return await server.verify_access_token(raw)
    return None
