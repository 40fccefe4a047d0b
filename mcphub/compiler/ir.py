"""The intermediate representation: the one contract between compiler stages and the runtime.

Every source kind (OpenAPI, GraphQL, SQL, upstream MCP, ...) produces an `Integration`; codegen
writes it to `generated/<slug>/manifest.json`; the runtime reads it back from there. Nothing else
crosses from the compiler to the runtime, so every field here is part of a versioned format:
bump `IR_VERSION` when a change would make an older runtime misread a newer manifest.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

IR_VERSION = 2  # 2: SourceInfo.hub_python (an older manifest's `python` command would run another interpreter)

# The response transforms the runtime implements (mcphub/runtime/upstream/transforms.py; a test keeps both in step), with what
# each gives the agent.
RESPONSE_TRANSFORMS = {
    "gmail_message": "the headers that matter and the decoded text body of the message",
    "gmail_thread": "each message's headers that matter and decoded text body",
    "gmail_draft": "the draft's message with its headers that matter and decoded text body",
    "github_content": "a file's `content` decoded to text (binary files stay base64), or a directory's entries",
    "slack_ok": "Slack's answer; `ok` false becomes a tool error saying what to do",
}

# The input transforms the runtime implements (mcphub/runtime/upstream/transforms.py; a test keeps both in step). A
# tool that uses one (spec `input:`) takes the friendly `arguments` instead of the body fields in `writes`, which the
# transform builds at call time, looking up what it needs (a blob's sha, the mail replied to) with the caller's
# credential. `required`: arguments the tool cannot do without; `describes`: new descriptions of the operation's own
# arguments whose meaning the transform changes.
_ADDRESSES = {"type": "array", "items": {"type": "string"}}
INPUT_TRANSFORMS: dict[str, dict[str, Any]] = {
    "gmail_compose": {
        "writes": ["raw", "threadId"],
        "required": [],
        "arguments": {
            "to": {
                **_ADDRESSES,
                "description": 'Recipients: ["ada@example.com", "Bob <bob@example.com>"]. A reply '
                "goes to the original's sender (Reply-To, else From) when left out.",
            },
            "cc": {**_ADDRESSES, "description": "Cc recipients."},
            "bcc": {**_ADDRESSES, "description": "Bcc recipients (not shown to the others)."},
            "subject": {"type": "string", "description": 'The subject; a reply defaults to "Re: " + the original\'s.'},
            "text": {"type": "string", "description": "The body as plain text. Give text, html or both."},
            "html": {
                "type": "string",
                "description": "The body as HTML; with text, mail apps show whichever they can.",
            },
            "reply_to_message_id": {
                "type": "string",
                "description": "To reply: the Gmail message ID (from search_messages) answered. The mail joins its "
                "thread (threadId, In-Reply-To, References are set).",
            },
        },
    },
    "drive_upload": {
        "writes": ["metadata", "media"],  # the parts of a multipart/related body, which the transform encodes itself
        "required": ["name"],
        "arguments": {
            "name": {"type": "string", "description": 'The file\'s name in Drive, e.g. "budget.csv".'},
            "content": {
                "type": "string",
                "description": "The content as text (UTF-8). Give content or content_base64.",
            },
            "content_base64": {"type": "string", "description": "Binary content (a PDF, an image), base64-encoded."},
            "content_type": {
                "type": "string",
                "description": 'The content\'s media type, e.g. "text/csv", "text/html", "application/pdf"; text/plain '
                "for text when left out.",
            },
            "convert_to": {
                "type": "string",
                "enum": ["document", "spreadsheet", "presentation"],
                "description": "Make it a Google Doc (from text or HTML), Sheet (from CSV) or Slides file instead of "
                "storing the content as is.",
            },
            "parents": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The folder ID to put it in (one); My Drive's root when left out.",
            },
            "description": {"type": "string", "description": "A short description shown in Drive."},
        },
    },
    "slack_upload": {
        "writes": ["files"],
        "required": ["filename"],
        "arguments": {
            "filename": {"type": "string", "description": 'The file\'s name with its extension, e.g. "report.csv".'},
            "title": {"type": "string", "description": "The title shown in Slack; the file name when left out."},
            "content": {
                "type": "string",
                "description": "The content as text (UTF-8). Give content or content_base64.",
            },
            "content_base64": {"type": "string", "description": "Binary content (a PDF, an image), base64-encoded."},
        },
    },
    "github_file": {
        "writes": ["content"],
        "required": ["content"],
        "describes": {
            "sha": "The blob sha of the file version being replaced (from get_file_contents). Optional: looked up when "
            "left out; give it to fail instead of overwriting a change made since you read the file.",
        },
        "arguments": {
            "content": {
                "type": "string",
                "description": "The whole new content of the file as text (UTF-8); the hub base64-encodes it.",
            },
        },
    },
}

JsonSchema = dict[str, Any]


class _Model(BaseModel):
    # Unknown keys in a manifest are an error: a runtime must not guess at a format it doesn't know.
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)


class ArgLocation(StrEnum):
    """Where one tool argument travels in the upstream HTTP request."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"
    BODY = "body"  # a property of a JSON object body
    BODY_ROOT = "body_root"  # the whole (non-object) JSON body is this one argument
    FORM = "form"  # a field of an application/x-www-form-urlencoded body
    MULTIPART = "multipart"  # a part of a multipart/form-data body


class ArgBinding(_Model):
    """Maps one property of the tool's input schema to its place on the wire."""

    name: str  # property name in the tool input schema (client-safe)
    python_name: str  # keyword used by the generated function (a Python identifier)
    location: ArgLocation
    wire_name: str  # name on the wire: "expand[]", "X-GitHub-Api-Version", "id"; "" for BODY_ROOT
    required: bool = False
    # OpenAPI serialisation (path/query/header/cookie): simple, form, label, matrix,
    # spaceDelimited, pipeDelimited, deepObject. None means the location's default.
    style: str | None = None
    explode: bool | None = None
    allow_reserved: bool = False
    # For multipart parts: the content type of the part when it is a file ("application/octet-stream").
    content_type: str | None = None
    # Property names below the top level that were renamed to client-safe ones (`Wine Pairing` -> `Wine_Pairing`):
    # the map back to the API's names, applied to the value before it is sent (format: compiler/wire_names.py).
    wire_names: dict[str, Any] | None = None
    # For an XML body (BODY_ROOT): its element names, from the description's `xml` objects
    # (compiler/sources/openapi/xml.py says the shape); the runtime writes the JSON argument as XML.
    xml: dict[str, Any] | None = None

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out while unset, so manifests without renamed nested names or XML bodies stay byte for byte as they were.
        data: dict[str, Any] = handler(self)
        for key in ("wire_names", "xml"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class HttpBinding(_Model):
    """How a tool becomes one upstream HTTP request."""

    method: str  # upper case: GET, POST, ...
    path: str  # path template relative to the server URL: "/repos/{owner}/{repo}/issues"
    args: list[ArgBinding] = Field(default_factory=list)
    body_encoding: Literal["json", "form", "multipart"] | None = None
    body_required: bool = False
    # Arguments fixed by the spec: not in the input schema, always sent. Keyed by location then wire name.
    fixed: dict[ArgLocation, dict[str, Any]] = Field(default_factory=dict)
    server_url: str | None = None  # per-operation server override (template, uses Integration.server_variables)
    security: list[list[str]] | None = None  # alternatives of AuthScheme ids; [] = no auth; None = integration default
    response_content_type: str | None = None  # the documented success media type, if any
    # Wire maps of the input schema's `$defs` entries, by name, which `ArgBinding.wire_names` refer to (`ref`).
    wire_defs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # A JSON body's media type when the description declares no plain `application/json` for it
    # (`application/merge-patch+json`, `application/vnd.api+json`); None: application/json.
    body_content_type: str | None = None
    # A required body that must hold at least one field (`minProperties: 1`, no required field; Webflow's PATCH
    # bodies), flattened into these arguments (by name): the hub refuses a call giving none of them, before sending.
    # JSON Schema says it only with a root `anyOf`, which clients refuse (CLIENT-COMPAT.md); the description says it.
    body_needs_one_of: list[str] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out while unset, so manifests stay byte for byte as they were.
        data: dict[str, Any] = handler(self)
        if not data.get("wire_defs"):
            data.pop("wire_defs", None)
        if not data.get("body_needs_one_of"):
            data.pop("body_needs_one_of", None)
        if data.get("body_content_type") is None:
            data.pop("body_content_type", None)
        return data


class GraphQLBinding(_Model):
    """A tool that sends one GraphQL document; arguments are its variables."""

    document: str
    operation_name: str
    variables: dict[str, str] = Field(default_factory=dict)  # argument name -> GraphQL variable name
    result_path: list[str] = Field(default_factory=list)  # where the interesting data sits under `data`


class SqlBinding(_Model):
    """A tool run by the runtime's SQL executor (PostgreSQL integration)."""

    action: Literal["query", "list_schemas", "list_tables", "describe_table", "explain", "execute"]


class McpBinding(_Model):
    """A tool proxied to an upstream MCP server's tool of this name."""

    upstream_name: str


class ToolAnnotations(_Model):
    """MCP tool annotations (hints for clients; the hub's policy does not trust them)."""

    title: str | None = None
    read_only_hint: bool | None = Field(default=None, alias="readOnlyHint")
    destructive_hint: bool | None = Field(default=None, alias="destructiveHint")
    idempotent_hint: bool | None = Field(default=None, alias="idempotentHint")
    open_world_hint: bool | None = Field(default=None, alias="openWorldHint")


class ResponseShape(_Model):
    """How the runtime trims or rewrites a successful JSON answer before the agent sees it (spec `response:`).

    `transform` names a function of `mcphub.runtime.upstream.transforms` (e.g. `gmail_message`: decoded bodies instead of
    base64url parts); `keep` then projects the result onto dotted paths ("user.login", "labels.name": arrays on
    the way are mapped item by item), or with `items` each element of the list under that key, keeping the
    wrapper's other keys (totals, cursors) as they are. When the tool's argument `full_argument` is true, the answer is left as
    the upstream sent it, so the agent can always get the rest.
    """

    transform: str | None = None
    keep: list[str] = Field(default_factory=list)
    items: str | None = None  # the answer's key holding a list ("data", "items"): `keep` applies to each element
    full_argument: str | None = None


class InputShape(_Model):
    """How the runtime builds a tool's JSON body from friendly arguments (spec `input:`).

    `transform` names an async function of `mcphub.runtime.upstream.transforms` (one of INPUT_TRANSFORMS); it reads
    the body fields in `arguments` (removed from the body) and returns the fields it builds, merged into the body, or
    placed under the body field `into` when set (Gmail drafts: `message`), or the whole encoded body (uploads).
    """

    transform: str
    arguments: list[str] = Field(default_factory=list)
    into: str | None = None


class Tool(_Model):
    name: str  # unprefixed; the hub adds "<slug>__"
    title: str | None = None
    description: str = ""
    input_schema: JsonSchema = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: JsonSchema | None = None
    annotations: ToolAnnotations = Field(default_factory=ToolAnnotations)
    enabled: bool = True
    # False: off the flat tool list, found through the search view and called by name (a spec's `search: all`).
    listed: bool = True
    deprecated: bool = False
    source_ref: str = ""  # where it came from: operationId or "METHOD /path", for error messages and curation
    tags: list[str] = Field(default_factory=list)
    http: HttpBinding | None = None
    graphql: GraphQLBinding | None = None
    sql: SqlBinding | None = None
    mcp: McpBinding | None = None
    # Values sent for arguments the caller leaves out (the spec's `defaults:`; the input schema shows them as
    # `default`). Schema defaults copied from a source are documentation only: the upstream applies those itself.
    defaults: dict[str, Any] = Field(default_factory=dict)
    response: ResponseShape | None = None
    input: InputShape | None = None

    @model_serializer(mode="wrap")
    def _omit_no_input(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out while unset, so manifests of tools without one stay byte for byte as they were.
        data: dict[str, Any] = handler(self)
        if data.get("input") is None:
            data.pop("input", None)
        if data.get("listed") is True:
            data.pop("listed", None)
        return data


class OAuthFlow(_Model):
    kind: Literal["authorization_code", "client_credentials", "implicit", "password", "device_code"]
    authorization_url: str | None = None
    token_url: str | None = None
    refresh_url: str | None = None
    scopes: dict[str, str] = Field(default_factory=dict)  # scope -> meaning


class ServerVariableDiscovery(_Model):
    """How a server variable's value is found once a user has connected (an OAuth scheme's `discover`).

    After the token exchange the runtime GETs `url` with the new access token (under the integration's egress
    policy). The answer is a JSON list of what the user granted (or an object holding that list under `items`):
    Atlassian's accessible-resources lists sites as `{"id": <cloudId>, "url": "https://acme.atlassian.net", ...}`.
    Each entry's `value` field is a candidate for the variable and its `label` field says to a person which one it
    is. The first entry is taken unless the user asked for another when connecting (by value, label, or the label's
    host name or first host label: "acme"); the label of the one taken is stored with the credential.
    """

    url: str
    items: str | None = None
    value: str = "id"
    label: str | None = None
    description: str = ""


# AuthScheme keys left out of manifest.json while unset, so packages that use none of them keep their manifests
# byte for byte (and an older runtime, which would reject the keys, still reads them).
_UNSET_WHEN_EMPTY = ("base_url", "authorization_params", "refresh_scope", "discover")


class AuthScheme(_Model):
    """One way a user can authenticate to the upstream; a user picks one when connecting."""

    id: str  # stable key ("bearer", "oauth2", or the source's securityScheme name)
    type: Literal["api_key", "bearer", "basic", "oauth2", "openid_connect"]
    label: str = ""  # what the dashboard shows: "Personal access token"
    description: str = ""
    # api_key: where the key goes and under which name
    location: Literal["header", "query", "cookie"] | None = None
    param_name: str | None = None
    # bearer: prefix used in the Authorization header
    bearer_format: str | None = None
    prefix: str = "Bearer"
    flows: list[OAuthFlow] = Field(default_factory=list)  # oauth2
    openid_connect_url: str | None = None  # openid_connect
    # Scopes this integration asks for when connecting (subset of the flows' scopes).
    scopes: list[str] = Field(default_factory=list)
    # oauth2: the scope that asks the provider for a refresh token (`offline_access` at Atlassian, Microsoft and
    # OpenID Connect providers), requested along with `scopes`; kept apart because it grants no API permission, so
    # API descriptions never list it.
    refresh_scope: str | None = None
    # Extra parameters of the authorization request (Atlassian: audience=api.atlassian.com, prompt=consent).
    authorization_params: dict[str, str] = Field(default_factory=dict)
    # The server URL for credentials of this scheme, replacing Integration.base_url (not an operation's own
    # server): Atlassian's OAuth calls go to https://api.atlassian.com/ex/jira/{cloudId}, not the site. A template
    # over Integration.server_variables and the variables of `discover`.
    base_url: str | None = None
    # oauth2: server variables found after connecting, by name (see ServerVariableDiscovery).
    discover: dict[str, ServerVariableDiscovery] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in _UNSET_WHEN_EMPTY:
            if not data.get(key):
                data.pop(key, None)
        return data


class ServerVariable(_Model):
    default: str
    enum: list[str] | None = None
    description: str = ""


class Policy(_Model):
    """What the runtime allows this integration to do, enforced before any byte leaves."""

    allowed_hosts: list[str] = Field(default_factory=list)  # empty: derived from the base URL at mount time
    allowed_methods: list[str] = Field(default_factory=list)  # empty: the methods the tools use
    rate_limit: str | None = None  # "60/min", "10/s", "1000/hour"
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_response_bytes: int = 10_000_000
    allow_private_network: bool = False  # loopback/private addresses are refused unless this is set


class Resource(_Model):
    uri: str
    name: str
    description: str = ""
    mime_type: str | None = None
    text: str | None = None  # static resources carry their content


class PromptArgument(_Model):
    name: str
    description: str = ""
    required: bool = False


class Prompt(_Model):
    name: str
    description: str = ""
    arguments: list[PromptArgument] = Field(default_factory=list)
    template: str = ""  # a user message; {argument} placeholders


class SourceInfo(_Model):
    kind: Literal["openapi", "postman", "graphql", "sql", "mcp", "docs", "repo", "text"]
    path: str | None = None  # relative to the spec file's folder, or the description given on the CLI
    url: str | None = None
    command: list[str] | None = None  # kind mcp (stdio)
    # kind mcp (stdio): the first word of `command` means the hub's own interpreter (`sys.executable` where the hub
    # runs), as the mcp source kind reads `python`/`python3`; decided at compile time so the runtime needs no rule.
    hub_python: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    package: str | None = None  # npm package (name@version) that `path` is a file of
    sha256: str | None = None  # of the source file, so --check can tell a changed source
    format: str | None = None  # "swagger 2.0", "openapi 3.1.0", ...


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Integration(_Model):
    ir_version: int = IR_VERSION
    slug: str
    name: str
    category: str = "other"
    description: str = ""
    api_version: str | None = None
    source: SourceInfo
    base_url: str = ""  # a template when server_variables is non-empty: "https://{site}.atlassian.net"
    server_variables: dict[str, ServerVariable] = Field(default_factory=dict)
    auth: list[AuthScheme] = Field(default_factory=list)
    default_security: list[list[str]] = Field(default_factory=list)  # alternatives of AuthScheme ids
    tools: list[Tool] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)
    prompts: list[Prompt] = Field(default_factory=list)
    policy: Policy = Field(default_factory=Policy)
    warnings: list[str] = Field(default_factory=list)

    def to_manifest(self) -> str:
        """Serialise deterministically for manifest.json: sorted keys, one line per list item.

        One line per tool keeps diffs of committed packages readable, and avoids `indent=`,
        which forces json's pure-Python encoder (10x slower on GitHub's 1,200 tools).
        """
        data = self.model_dump(mode="json", by_alias=True)
        lines = []
        for key in sorted(data):
            value = data[key]
            if isinstance(value, list) and value:
                items = ",\n".join(_compact(item) for item in value)
                lines.append(f"{json.dumps(key)}: [\n{items}\n]")
            else:
                lines.append(f"{json.dumps(key)}: {_compact(value)}")
        return "{\n" + ",\n".join(lines) + "\n}\n"

    @classmethod
    def from_manifest(cls, text: str | bytes) -> Integration:
        data = json.loads(text)
        version = data.get("ir_version")
        if version != IR_VERSION:
            raise ValueError(
                f"manifest has ir_version {version!r}, this mcphub reads {IR_VERSION}; recompile with `mcphub compile`"
            )
        return cls.model_validate(data)

    def tool(self, name: str) -> Tool:
        for tool in self.tools:
            if tool.name == name:
                return tool
        raise KeyError(name)
