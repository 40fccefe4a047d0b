"""Upstream OAuth 2.0: connect a user's account with authorization code + PKCE, refresh, disconnect.

    start   authorization_url(user, integration, redirect_uri) -> URL to send the browser to. A random
            `state` (stored hashed, with the PKCE verifier sealed, for `flow_ttl`) ties the callback to
            this user and integration; the flow lives in the database so any replica can finish it.
            Started from the web (default), the callback must come with that user's web session, so a
            link cannot be passed to someone else to connect *their* upstream account to the starter's
            hub account; started by the operator's CLI (`session_bound=False`) the state alone decides.
    finish  complete(user, integration, code, state): one-time use of the flow, code exchange with the
            verifier, tokens stored as the flow's user's credential (sealed by the vault). A scheme that
            `discover`s server variables (Atlassian's cloudId) GETs its URL with the new token first, under the
            integration's egress policy, and stores the value (the one the user asked for at start, else the
            first granted) and its label with the tokens.
    use     credential(user, integration): the stored credential, refreshed first when it expires
            within `refresh_skew`; refresh(user, integration, failed_token=…) after an upstream 401.
            One refresh at a time per credential: a per-process lock plus, on PostgreSQL, an advisory
            lock across replicas; whoever waited re-reads and uses the token the first one obtained.
    end     disconnect(user, slug): revoke at the upstream (RFC 7009, when configured), delete.

The OAuth client (id, secret, token endpoint auth method, revocation URL) per integration is set by an
admin; its secret is sealed by the vault.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx2
from sqlalchemy import delete, func, select

from mcphub.compiler.ir import AuthScheme, Integration, OAuthFlow, ServerVariableDiscovery
from mcphub.runtime.errors import HubError
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import OAuthClient
from mcphub.runtime.store.models import OAuthFlow as FlowRow
from mcphub.runtime.tenancy.credentials import CredentialStore, to_credential
from mcphub.runtime.tenancy.vault import Vault, oauth_client_context, oauth_flow_context
from mcphub.runtime.upstream.client import FetchFailed, UpstreamClient
from mcphub.runtime.upstream.credentials import Credential

__all__ = ["NotSignedIn", "OAuthClientConfig", "OAuthError", "TokenAuth", "UpstreamOAuth", "oauth_scheme"]

logger = logging.getLogger(__name__)

TokenAuth = Literal["client_secret_basic", "client_secret_post", "none"]


class OAuthError(HubError):
    """An OAuth step failed; the message says what the user or admin can do."""


class NotSignedIn(OAuthError):
    """A web-started flow came back to a browser without the starter's hub session."""


@dataclass(frozen=True, slots=True)
class OAuthClientConfig:
    slug: str
    client_id: str
    client_secret: str | None
    token_auth: str
    revocation_url: str | None

    def __repr__(self) -> str:
        secret = "set" if self.client_secret else "none"
        return f"OAuthClientConfig(slug={self.slug!r}, client_id={self.client_id!r}, client_secret={secret})"


def oauth_scheme(integration: Integration, scheme_id: str | None = None) -> tuple[AuthScheme, OAuthFlow]:
    """The integration's OAuth2 scheme with an authorization-code flow (the one named, or the first)."""
    for scheme in integration.auth:
        if scheme.type != "oauth2" or (scheme_id is not None and scheme.id != scheme_id):
            continue
        for flow in scheme.flows:
            if flow.kind == "authorization_code" and flow.authorization_url and flow.token_url:
                return scheme, flow
    raise OAuthError(
        f"{integration.name} has no OAuth 2.0 authorization-code scheme{f' {scheme_id!r}' if scheme_id else ''}"
    )


_URL_SAFE = re.compile(r"^(?!\.+$)[A-Za-z0-9._~-]{1,200}$")  # RFC 3986 unreserved characters, not a dot segment


def _wanted_variables(integration: Integration, scheme: AuthScheme, wanted: Mapping[str, str] | None) -> dict[str, str]:
    """The user's choice of discovered variables, checked against the scheme before anyone is sent to consent."""
    choice = {str(k): str(v).strip() for k, v in (wanted or {}).items() if str(v).strip()}
    for name in choice:
        if name not in scheme.discover:
            known = ", ".join(scheme.discover) or "none"
            raise OAuthError(
                f"{integration.name}'s {scheme.label or scheme.id} finds no server variable {name!r} after sign-in "
                f"(it finds: {known})"
            )
    return choice


def _entries(answer: Any, rule: ServerVariableDiscovery) -> list[tuple[str, str | None]]:
    """(value, label) of each entry of a discovery answer that has the value field."""
    if rule.items is not None:
        answer = answer.get(rule.items) if isinstance(answer, dict) else None
    if not isinstance(answer, list):
        shape = f"a list under {rule.items!r}" if rule.items else "a list"
        raise OAuthError(f"{rule.url} did not answer {shape} of choices; the integration's discover rule may be stale")
    entries = []
    for item in answer:
        if not isinstance(item, dict) or item.get(rule.value) in (None, ""):
            continue
        value = str(item[rule.value])
        if not _URL_SAFE.match(value):
            # The value lands in the server URL as is: an answer must not be able to reshape the request's path.
            logger.warning("discovery at %s: ignored %s %r, not a URL-safe value", rule.url, rule.value, value[:80])
            continue
        label = item.get(rule.label) if rule.label else None
        entries.append((value, None if label in (None, "") else str(label)))
    return entries


def _names_of(value: str, label: str | None) -> set[str]:
    """What a user may type to pick an entry: its value, its label, and for a URL label its host and first label."""
    names = {value.lower()}
    if label:
        names.add(label.lower().rstrip("/"))
        host = urlsplit(label).hostname if "://" in label else None
        if host:
            names |= {host, host.split(".", 1)[0]}
    return names


def _choose(
    integration: Integration,
    name: str,
    rule: ServerVariableDiscovery,
    entries: list[tuple[str, str | None]],
    wanted: str | None,
) -> tuple[str, str | None]:
    if not entries:
        what = rule.description.rstrip(".") or name
        raise OAuthError(
            f"{integration.name} was signed in, but the sign-in granted nothing to use as {name} ({what}); "
            f"connect {integration.slug} again and grant access on the consent page"
        )
    if not wanted:
        return entries[0]
    for value, label in entries:
        if wanted.lower().rstrip("/") in _names_of(value, label):
            return value, label
    granted = ", ".join(f"{label} ({value})" if label else value for value, label in entries)
    raise OAuthError(
        f"{integration.name}: {name} {wanted!r} is not among what the sign-in granted: {granted}; connect "
        f"{integration.slug} again choosing one of them, or grant {wanted!r} on the consent page"
    )


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _basic(client_id: str, client_secret: str) -> str:
    """HTTP Basic client authentication as RFC 6749 §2.3.1 has it: each part form-urlencoded first."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _lock_id(user_id: int, slug: str) -> int:
    digest = hashlib.sha256(f"mcphub-oauth-refresh:{user_id}:{slug}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class UpstreamOAuth:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        credentials: CredentialStore,
        *,
        http: httpx2.AsyncClient | None = None,
        flow_ttl: timedelta = timedelta(minutes=10),
        refresh_skew: float = 60.0,
    ) -> None:
        self.db = db
        self.vault = vault
        self.credentials = credentials
        self._http = http
        self._own_http = http is None
        self.flow_ttl = flow_ttl
        self.refresh_skew = refresh_skew
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    @property
    def http(self) -> httpx2.AsyncClient:
        if self._http is None:
            self._http = httpx2.AsyncClient(timeout=httpx2.Timeout(20.0, connect=10.0), follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- OAuth clients (admin) ----------------------------------------------------------------------

    async def set_client(
        self,
        slug: str,
        client_id: str,
        client_secret: str | None,
        *,
        token_auth: TokenAuth = "client_secret_basic",
        revocation_url: str | None = None,
    ) -> None:
        if not client_id.strip():
            raise OAuthError("the OAuth client id is empty")
        if token_auth != "none" and not client_secret:
            raise OAuthError(f"{token_auth} needs a client secret (or use token_auth 'none' for public clients)")
        kid, sealed = (None, None)
        if client_secret:
            kid, sealed = self.vault.seal(client_secret.encode(), oauth_client_context(slug))
        async with self.db.session() as session:
            row = await session.get(OAuthClient, slug)
            if row is None:
                row = OAuthClient(slug=slug, client_id=client_id, updated_at=utcnow())
                session.add(row)
            row.client_id, row.key_id, row.sealed_secret = client_id.strip(), kid, sealed
            row.token_auth, row.revocation_url, row.updated_at = token_auth, revocation_url, utcnow()

    async def get_client(self, slug: str) -> OAuthClientConfig | None:
        async with self.db.session() as session:
            row = await session.get(OAuthClient, slug)
        if row is None:
            return None
        secret = self.vault.open(row.sealed_secret, oauth_client_context(slug)).decode() if row.sealed_secret else None
        return OAuthClientConfig(slug, row.client_id, secret, row.token_auth, row.revocation_url)

    async def list_clients(self) -> list[dict[str, Any]]:
        """Configured clients without their secrets."""
        async with self.db.session() as session:
            rows = (await session.scalars(select(OAuthClient).order_by(OAuthClient.slug))).all()
        return [
            {
                "slug": r.slug,
                "client_id": r.client_id,
                "has_secret": r.sealed_secret is not None,
                "token_auth": r.token_auth,
                "revocation_url": r.revocation_url,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]

    async def delete_client(self, slug: str) -> bool:
        async with self.db.session() as session:
            result = await session.execute(delete(OAuthClient).where(OAuthClient.slug == slug))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _client(self, integration: Integration) -> OAuthClientConfig:
        client = await self.get_client(integration.slug)
        if client is None:
            raise OAuthError(
                f"{integration.name} has no OAuth client configured; an admin sets one with "
                f"`mcphub oauth set-client {integration.slug}`"
            )
        return client

    # --- the authorization-code flow ----------------------------------------------------------------

    async def authorization_url(
        self,
        user_id: int,
        integration: Integration,
        redirect_uri: str,
        *,
        scheme_id: str | None = None,
        session_bound: bool = True,
        server_variables: Mapping[str, str] | None = None,
    ) -> str:
        """Begin connecting: the URL of the upstream's consent page for this user (see the module docstring).

        `server_variables` picks, among what the user will grant, the value of variables the scheme discovers
        (Jira: {"cloudId": "acme"} by site name, URL or cloud id); without it the first granted is used.
        """
        scheme, flow = oauth_scheme(integration, scheme_id)
        wanted = _wanted_variables(integration, scheme, server_variables)
        client = await self._client(integration)
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        state_hash = _state_hash(state)
        kid, sealed = self.vault.seal_json(
            {"verifier": verifier, "redirect_uri": redirect_uri, "session_bound": session_bound, "wanted": wanted},
            oauth_flow_context(state_hash),
        )
        now = utcnow()
        async with self.db.session() as session:
            await session.execute(delete(FlowRow).where(FlowRow.expires_at < now))
            session.add(
                FlowRow(
                    state_hash=state_hash,
                    user_id=user_id,
                    slug=integration.slug,
                    scheme=scheme.id,
                    key_id=kid,
                    sealed=sealed,
                    expires_at=now + self.flow_ttl,
                )
            )
        scopes = scheme.scopes or list(flow.scopes)
        if scheme.refresh_scope and scheme.refresh_scope not in scopes:
            scopes = [*scopes, scheme.refresh_scope]
        # The provider's own parameters first, so the hub's (checked at compile time not to clash) are the last word.
        params = {
            **scheme.authorization_params,
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if scopes:
            params["scope"] = " ".join(scopes)
        assert flow.authorization_url is not None
        separator = "&" if "?" in flow.authorization_url else "?"
        return f"{flow.authorization_url}{separator}{urlencode(params)}"

    async def complete(self, user_id: int | None, integration: Integration, *, code: str, state: str) -> int:
        """Finish connecting: check the state, exchange the code, store the tokens; returns the user connected.

        `user_id` is the signed-in web user (None: no session); a web-started flow needs it to be the
        user who started it, a CLI-started one does not.
        """
        state_hash = _state_hash(state)
        async with self.db.session() as session:
            row = await session.get(FlowRow, state_hash)
            if row is not None:
                await session.delete(row)  # one use only, whatever happens next
        if row is None or row.expires_at < utcnow():
            raise OAuthError("this connection attempt is unknown or expired; start connecting again")
        if row.slug != integration.slug:
            raise OAuthError("this connection attempt was started for another integration")
        flow_data = self.vault.open_json(row.sealed, oauth_flow_context(state_hash))
        if flow_data.get("session_bound", True):
            if user_id is None:
                raise NotSignedIn("sign in to the hub in this browser first, then connect again")
            if row.user_id != user_id:
                raise OAuthError("this connection attempt was started by another account")
        scheme, flow = oauth_scheme(integration, row.scheme)
        client = await self._client(integration)
        assert flow.token_url is not None
        token = await self._token_request(
            client,
            flow.token_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": flow_data["redirect_uri"],
                "code_verifier": flow_data["verifier"],
            },
        )
        fields = self._fields(token, previous=None)
        if scheme.discover:
            found = await self._discover(integration, scheme, fields["token"], flow_data.get("wanted") or {})
            fields["server_variables"] = {name: value for name, (value, _) in found.items()}
            labels = {name: label for name, (_, label) in found.items() if label}
            if labels:
                fields["server_variable_labels"] = labels
        await self.credentials.set(row.user_id, integration.slug, fields, scheme=scheme.id)
        return row.user_id

    async def _discover(
        self, integration: Integration, scheme: AuthScheme, token: str, wanted: Mapping[str, str]
    ) -> dict[str, tuple[str, str | None]]:
        """Each variable the scheme discovers: (value, label) of the entry chosen among those the user granted."""
        found: dict[str, tuple[str, str | None]] = {}
        # A short-lived client of this integration: its allowed hosts and private-network rule, not the hub's.
        client = UpstreamClient(integration)
        try:
            for name, rule in scheme.discover.items():
                try:
                    answer = await client.fetch_json(rule.url, token=token)
                except FetchFailed as exc:
                    raise OAuthError(f"{integration.name} was signed in, but finding its {name} failed: {exc}") from exc
                entries = _entries(answer, rule)
                found[name] = _choose(integration, name, rule, entries, wanted.get(name))
        finally:
            await client.aclose()
        return found

    # --- tokens -------------------------------------------------------------------------------------

    async def _token_request(self, client: OAuthClientConfig, url: str, data: dict[str, str]) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if client.token_auth == "client_secret_basic" and client.client_secret:
            headers["Authorization"] = _basic(client.client_id, client.client_secret)
        else:
            data = {**data, "client_id": client.client_id}
            if client.token_auth == "client_secret_post" and client.client_secret:
                data["client_secret"] = client.client_secret
        try:
            response = await self.http.post(url, data=data, headers=headers)
        except httpx2.HTTPError as exc:
            raise OAuthError(f"could not reach the token endpoint {url}: {type(exc).__name__}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            raise OAuthError(f"the token endpoint {url} answered {response.status_code} without JSON") from None
        user = body.get("authed_user")
        if "access_token" not in body and isinstance(user, dict) and user.get("access_token"):
            body = dict(user)  # Slack's OAuth v2: a sign-in for user scopes only returns the user token in here
        if response.status_code >= 400 or "error" in body or "access_token" not in body:
            error = body.get("error", f"HTTP {response.status_code}")
            description = body.get("error_description", "")
            raise OAuthError(
                f"the upstream refused the token request: {error}{f' ({description})' if description else ''}"
            )
        return body

    @staticmethod
    def _fields(token: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "token": str(token["access_token"]),
            "token_type": str(token.get("token_type", "Bearer")),
        }
        refresh = token.get("refresh_token") or (previous or {}).get("refresh_token")
        if refresh:
            fields["refresh_token"] = str(refresh)  # kept when the upstream does not rotate refresh tokens
        for kept in ("server_variables", "server_variable_labels"):  # found when connecting; a refresh keeps them
            if (previous or {}).get(kept):
                fields[kept] = dict((previous or {})[kept])
        if token.get("expires_in") is not None:
            fields["expires_at"] = time.time() + float(token["expires_in"])
        if token.get("scope"):
            fields["scope"] = str(token["scope"])
        return fields

    def _expiring(self, fields: dict[str, Any]) -> bool:
        expires_at = fields.get("expires_at")
        return expires_at is not None and float(expires_at) - time.time() < self.refresh_skew

    async def credential(self, user_id: int, integration: Integration) -> Credential | None:
        """The user's credential for an integration, refreshed first if its access token is about to expire."""
        row_fields = await self.credentials.fields(user_id, integration.slug)
        if row_fields is None:
            return None
        if self._expiring(row_fields) and row_fields.get("refresh_token"):
            return await self.refresh(user_id, integration)
        return await self.credentials.credential(user_id, integration.slug)

    async def refresh(
        self, user_id: int, integration: Integration, *, failed_token: str | None = None
    ) -> Credential | None:
        """Refresh the access token (after expiry, or after the upstream rejected `failed_token` with 401).

        Concurrent callers share one refresh: the first does it, the others find a new token when they get the lock.
        """
        key = (user_id, integration.slug)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock, self.db.session() as session:
            if self.db.dialect == "postgresql":
                await session.execute(select(func.pg_advisory_xact_lock(_lock_id(user_id, integration.slug))))
            fields = await self.credentials.fields(user_id, integration.slug)
            if fields is None:
                return None
            already = failed_token is not None and fields.get("token") != failed_token
            if already or (failed_token is None and not self._expiring(fields)):
                return await self.credentials.credential(user_id, integration.slug)
            if not fields.get("refresh_token"):
                raise OAuthError(
                    f"the {integration.name} token expired and cannot be refreshed; connect {integration.slug} again"
                )
            stored = await self.credentials.credential(user_id, integration.slug)
            scheme, flow = oauth_scheme(integration, stored.scheme if stored else None)
            client = await self._client(integration)
            url = flow.refresh_url or flow.token_url
            assert url is not None
            token = await self._token_request(
                client, url, {"grant_type": "refresh_token", "refresh_token": str(fields["refresh_token"])}
            )
            new_fields = self._fields(token, previous=fields)
            await self.credentials.set(user_id, integration.slug, new_fields, scheme=scheme.id)
            return to_credential(new_fields, scheme.id)

    async def disconnect(self, user_id: int, integration: Integration) -> bool:
        """Revoke the user's tokens at the upstream (best effort, when a revocation URL is set) and forget them."""
        fields = await self.credentials.fields(user_id, integration.slug)
        if fields is None:
            return False
        client = await self.get_client(integration.slug)
        if client is not None and client.revocation_url:
            for hint in ("refresh_token", "access_token"):
                value = fields.get("refresh_token" if hint == "refresh_token" else "token")
                if not value:
                    continue
                try:
                    data = {"token": str(value), "token_type_hint": hint}
                    headers = {}
                    if client.client_secret:
                        headers["Authorization"] = _basic(client.client_id, client.client_secret)
                    else:
                        data["client_id"] = client.client_id
                    response = await self.http.post(client.revocation_url, data=data, headers=headers)
                    if response.status_code >= 400:
                        logger.warning(
                            "revoking the %s %s at %s: HTTP %s",
                            integration.slug,
                            hint,
                            client.revocation_url,
                            response.status_code,
                        )
                except httpx2.HTTPError as exc:
                    logger.warning("revoking the %s %s failed: %s", integration.slug, hint, type(exc).__name__)
        return await self.credentials.delete(user_id, integration.slug)
