"""The tenancy tables: users, API keys, enabled integrations, encrypted credentials, usage and logs.

Secrets never sit in a column in clear: API keys are stored as a keyed hash, credentials and OAuth
client secrets as AES-GCM blobs from `runtime.vault` (with the id of the key that sealed them, so a
rotation can find what is left to re-encrypt).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "ApiKeySecret",
    "Base",
    "BuildRun",
    "BuildSource",
    "BuildVersion",
    "BuiltIntegration",
    "CallLogEntry",
    "ChangeEvent",
    "Credential",
    "HubSecret",
    "IssuedToken",
    "McpAuthCode",
    "McpClient",
    "McpGrant",
    "MonthlyMeter",
    "OAuthClient",
    "OAuthFlow",
    "UsageEvent",
    "UsageSpoolMark",
    "User",
    "UserIntegration",
]

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use mcphub.runtime.store.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on sign-out and password change: every web session cookie carrying an older epoch is void.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))  # of the current secret, for display: "mcp_sk_AbC123xy"
    scope: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # "slug" or "slug__tool"; None: all
    # How /mcp lists tools for this key: "flat", "search" (the meta-tools) or "auto" (search above a token budget).
    view: Mapped[str] = mapped_column(String(16), default="flat", server_default="flat")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiKeySecret(Base):
    """One secret of a key; a rotation adds one and gives the previous ones a `valid_until`."""

    __tablename__ = "api_key_secrets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex HMAC-SHA256 of the whole key
    prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    valid_until: Mapped[datetime | None]  # set on rotation: the grace period of the old secret


class UserIntegration(Base):
    __tablename__ = "user_integrations"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]


class Credential(Base):
    """One user's secrets for one integration, sealed by the vault (fields never stored in clear)."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("user_id", "slug"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(100))
    scheme: Mapped[str | None] = mapped_column(String(100))  # the AuthScheme id the user picked
    key_id: Mapped[str] = mapped_column(String(32), index=True)  # vault key that sealed `sealed`
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OAuthClient(Base):
    """The hub's OAuth client registration at an upstream (set by an admin)."""

    __tablename__ = "oauth_clients"

    slug: Mapped[str] = mapped_column(String(100), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(500))
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    # How the client authenticates at the token endpoint: client_secret_basic | client_secret_post | none.
    token_auth: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic", server_default="client_secret_basic"
    )
    revocation_url: Mapped[str | None] = mapped_column(String(2000))  # RFC 7009 endpoint, for disconnect
    updated_at: Mapped[datetime]


class OAuthFlow(Base):
    """An authorization-code flow in progress: found by the hash of its `state`, used once, short-lived.

    In the database rather than one process's memory so the callback may land on any replica.
    """

    __tablename__ = "oauth_flows"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(100))
    scheme: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # PKCE verifier and redirect URI
    expires_at: Mapped[datetime] = mapped_column(index=True)


class HubSecret(Base):
    """Hub-wide secrets (API-key hash pepper, session signing key), sealed by the vault like credentials."""

    __tablename__ = "hub_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (
        Index("ix_usage_events_user_ts", "user_id", "ts"),
        Index("ix_usage_events_integration_ts", "integration", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # no FK: usage outlives deleted users for billing
    key_id: Mapped[int | None] = mapped_column(BigInteger)
    integration: Mapped[str] = mapped_column(String(100))
    tool: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # ok | tool_error | upstream_error | denied | rate_limited
    latency_ms: Mapped[float]
    upstream_status: Mapped[int | None]
    request_bytes: Mapped[int] = mapped_column(Integer, default=0)
    response_bytes: Mapped[int] = mapped_column(Integer, default=0)


class CallLogEntry(Base):
    """The recent calls of a user with redacted arguments and result excerpts (short retention)."""

    __tablename__ = "call_log"
    __table_args__ = (Index("ix_call_log_user_id_id", "user_id", "id"), Index("ix_call_log_ts", "ts"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    key_id: Mapped[int | None] = mapped_column(BigInteger)
    integration: Mapped[str] = mapped_column(String(100))
    tool: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    latency_ms: Mapped[float]
    arguments: Mapped[str] = mapped_column(Text, default="")  # redacted JSON
    result: Mapped[str] = mapped_column(Text, default="")  # redacted excerpt
    error: Mapped[str] = mapped_column(Text, default="")  # redacted


class MonthlyMeter(Base):
    """Calls per user per month, incremented with every flushed batch (billing reads this, not events)."""

    __tablename__ = "monthly_meters"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-11"
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)


# --- the hub as an MCP authorization server (runtime/oauth/authserver.py) -------------------------------


class McpClient(Base):
    """An OAuth client of the hub (an MCP client registered dynamically, RFC 7591); its secret only as a hash."""

    __tablename__ = "mcp_clients"

    client_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON)  # the registered metadata, without the secret
    secret_hash: Mapped[str | None] = mapped_column(String(64))  # hex HMAC-SHA256; None: public client
    created_at: Mapped[datetime]


class McpGrant(Base):
    """One user's consent to one client, from one authorization code: its tokens live and die together."""

    __tablename__ = "mcp_grants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("mcp_clients.client_id", ondelete="CASCADE"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    resource: Mapped[str] = mapped_column(String(2000))  # RFC 8707 audience of every token of the grant
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Written at most once a minute per grant and process, off the request path (like API keys' last use).
    last_used_at: Mapped[datetime | None]


class McpAuthCode(Base):
    """An authorization code: found by its hash, single use, short-lived, bound to redirect URI and resource."""

    __tablename__ = "mcp_auth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("mcp_clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    resource: Mapped[str] = mapped_column(String(2000))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    redirect_uri_explicit: Mapped[bool] = mapped_column(Boolean)
    code_challenge: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("mcp_grants.id", ondelete="CASCADE"))


class IssuedToken(Base):
    """An access or refresh token the hub issued, stored as a keyed hash; refresh tokens are rotated on use."""

    __tablename__ = "mcp_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # access | refresh
    grant_id: Mapped[int] = mapped_column(ForeignKey("mcp_grants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]  # refresh tokens: when it was exchanged (a second use is a replay)


# --- change feed (runtime/tenancy/fanout.py) -------------------------------------------------------------------


class ChangeEvent(Base):
    """One change other processes must hear about (a key revoked, a user's integrations changed).

    Without Redis, the CLI and every hub process sharing a database write a row per change and poll for
    rows newer than the last they saw; rows are deleted after an hour (only the last seconds matter).
    """

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(32))  # the writing process's random id: it skips its own rows
    created_at: Mapped[datetime] = mapped_column(index=True)


# --- hub settings, sign-up invites and the audit trail (runtime/tenancy/signup.py, web/audit.py) -----------------


class HubSetting(Base):
    """A hub-wide setting an admin changes at run time (e.g. `signup`: closed | invite | open)."""

    __tablename__ = "hub_settings"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000))
    updated_at: Mapped[datetime]


class SignupInvite(Base):
    """A single-use, expiring invitation for one email address; the link's token only as a hash."""

    __tablename__ = "signup_invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class AuditEvent(Base):
    """One state-changing action: who did it, to whose data, what (never a secret)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)  # no FK: the trail outlives deleted users
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class _UsageRollupColumns:
    """Calls per user, period, integration and tool, with a latency histogram: what the dashboard's pages read.

    Maintained from `usage_events` by `runtime/tenancy/rollups.py` (incrementally, by event id), so that
    pages never scan the raw events. `h0`…`h15` count calls per latency bucket (`rollups.BOUNDS_MS`).
    """

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    start: Mapped[datetime] = mapped_column(primary_key=True)  # of the hour (hourly) or the UTC day (daily)
    integration: Mapped[str] = mapped_column(String(100), primary_key=True)
    tool: Mapped[str] = mapped_column(String(200), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms_sum: Mapped[float] = mapped_column(default=0.0)
    h0: Mapped[int] = mapped_column(BigInteger, default=0)
    h1: Mapped[int] = mapped_column(BigInteger, default=0)
    h2: Mapped[int] = mapped_column(BigInteger, default=0)
    h3: Mapped[int] = mapped_column(BigInteger, default=0)
    h4: Mapped[int] = mapped_column(BigInteger, default=0)
    h5: Mapped[int] = mapped_column(BigInteger, default=0)
    h6: Mapped[int] = mapped_column(BigInteger, default=0)
    h7: Mapped[int] = mapped_column(BigInteger, default=0)
    h8: Mapped[int] = mapped_column(BigInteger, default=0)
    h9: Mapped[int] = mapped_column(BigInteger, default=0)
    h10: Mapped[int] = mapped_column(BigInteger, default=0)
    h11: Mapped[int] = mapped_column(BigInteger, default=0)
    h12: Mapped[int] = mapped_column(BigInteger, default=0)
    h13: Mapped[int] = mapped_column(BigInteger, default=0)
    h14: Mapped[int] = mapped_column(BigInteger, default=0)
    h15: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageRollup(_UsageRollupColumns, Base):
    """Hourly rollups (charts and totals up to a few days)."""

    __tablename__ = "usage_rollups"


class UsageRollupDaily(_UsageRollupColumns, Base):
    """Daily rollups (a month of totals reads 24 times fewer rows)."""

    __tablename__ = "usage_rollups_daily"


# --- usage spool (runtime/tenancy/usage.py) ----------------------------------------------------------


class UsageSpoolMark(Base):
    """How far into one spool segment (a hub process's append-only file of call records) the database has.

    Written in the transaction that writes the segment's records, so a replay after a crash starts exactly
    after the last record committed: nothing is lost, nothing counted twice. Deleted with the segment.
    """

    __tablename__ = "usage_spool_marks"

    segment: Mapped[str] = mapped_column(String(64), primary_key=True)  # the file's name: random, unique
    committed_bytes: Mapped[int] = mapped_column(BigInteger)  # the segment's bytes whose records are committed
    updated_at: Mapped[datetime]


# --- built integrations (runtime/tenancy/builds.py; built and deployed by mcphub/servers/) ---------------------


class BuiltIntegration(Base):
    """An integration a user built: its owner, who sees it, and which of its versions is deployed (live)."""

    __tablename__ = "built_integrations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)  # one namespace with the catalog's slugs
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    visibility: Mapped[str] = mapped_column(String(16), default="private")  # private | shared (by an admin)
    shared_by: Mapped[int | None] = mapped_column(BigInteger)
    deployed_version: Mapped[int | None] = mapped_column(Integer)  # a BuildVersion.number, None: not live
    deployed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BuildSource(Base):
    """What a user brought (the bytes as received), with its kind and where it came from."""

    __tablename__ = "build_sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("built_integrations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # openapi | postman | text | docs | repo
    provenance: Mapped[str] = mapped_column(String(2000))  # "upload petstore.json", a URL, "text"
    filename: Mapped[str] = mapped_column(String(300))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    # The files the analyze stage pinned beside the spec (a drafted description, a collection), by name.
    pinned: Mapped[bytes] = mapped_column(LargeBinary)  # a zip archive
    created_at: Mapped[datetime]


class BuildVersion(Base):
    """One version of a built integration: its spec, who made it and why, and once built its package."""

    __tablename__ = "build_versions"
    __table_args__ = (UniqueConstraint("integration_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("built_integrations.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[int] = mapped_column(ForeignKey("build_sources.id", ondelete="CASCADE"), index=True)
    spec_yaml: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(BigInteger)  # no FK: history outlives deleted users
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | building | built | failed
    tools: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # enabled tool names, once built
    # The compiled package (manifest.json, server.py, README.md, __init__.py) as a zip: every replica loads it.
    package: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    package_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class BuildRun(Base):
    """One build of a version: each stage's result (time, log), scan findings, test report, linter score."""

    __tablename__ = "build_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("build_versions.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | failed
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{stage, status, seconds, log}]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the scan's
    test_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    lint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the description linter's report
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
