"""The only way generated code reaches the network.

One `UpstreamClient` per mounted integration owns a pooled `httpx2.AsyncClient` and the egress
policy compiled from the integration's `Policy`. A tool call turns the wire-named values the
generated function passes (`path`, `query`, `headers`, `cookies`, `body`, `form`, `multipart`)
into one request: OpenAPI parameter serialisation, credential injection by `AuthScheme`, allowed
hosts and methods checked before any byte leaves, private addresses refused, redirects followed by
hand only to allowed hosts, the response streamed and capped, then shaped into a `ToolOutput`.
Every failure becomes a tool error with a message the model (and a person) can act on; nothing
here raises into the MCP layer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import anyio
import httpx2

from mcphub.compiler.ir import ArgBinding, ArgLocation, AuthScheme, HttpBinding, Integration, Tool
from mcphub.runtime.errors import HubError
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream import trace
from mcphub.runtime.upstream.credentials import Credential, env_prefix
from mcphub.runtime.upstream.egress import (
    EgressDenied,
    PoolTransport,
    UnresolvableHost,
    public_address,
    shared_ssl_context,
)
from mcphub.runtime.upstream.http1 import Http1Transport

__all__ = [
    "EgressDenied",
    "EgressPolicy",
    "FetchFailed",
    "UpstreamClient",
    "encode_form",
    "serialize_parameter",
    "serialize_path",
]

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ERROR_BODY_CHARS = 500
_TEMPLATE_VARIABLE = re.compile(r"\{([^{}]+)\}")
# Characters RFC 3986 lets through unencoded when a parameter sets allowReserved.
_RESERVED = ":/?#[]@!$&'()*+,;="


class FetchFailed(HubError):
    """A request the hub made for itself (`UpstreamClient.fetch_json`) failed; the message names the URL and why."""


class _UpstreamFailure(Exception):
    """A failed exchange; becomes a tool error carrying this message."""

    def __init__(self, message: str, *, status: int | None = None, structured: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.structured = structured


# --- serialisation (pure) -------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pct(text: str, *, allow_reserved: bool = False) -> str:
    return quote(text, safe=_RESERVED if allow_reserved else "")


def serialize_path(name: str, value: Any, *, style: str | None, explode: bool | None) -> str:
    """Render one path parameter (already percent-encoded) per OpenAPI simple/label/matrix style."""
    style = style or "simple"
    explode = bool(explode)
    enc = _pct
    if isinstance(value, list):
        items = [enc(_scalar(v)) for v in value]
        if style == "label":
            return "." + ("." if explode else ",").join(items)
        if style == "matrix":
            if explode:
                return "".join(f";{name}={item}" for item in items)
            return f";{name}=" + ",".join(items)
        return ",".join(items)
    if isinstance(value, dict):
        pairs = [(enc(str(k)), enc(_scalar(v))) for k, v in value.items() if v is not None]
        if explode:
            joined = [f"{k}={v}" for k, v in pairs]
            if style == "label":
                return "." + ".".join(joined)
            if style == "matrix":
                return "".join(f";{item}" for item in joined)
            return ",".join(joined)
        flat = ",".join(f"{k},{v}" for k, v in pairs)
        if style == "label":
            return "." + flat
        if style == "matrix":
            return f";{name}={flat}"
        return flat
    text = enc(_scalar(value))
    if style == "label":
        return "." + text
    if style == "matrix":
        return f";{name}={text}"
    return text


def render_path(template: str, fill: Callable[[re.Match[str]], str]) -> str:
    """Fill a path template segment by segment; a segment that argument values make `.` or `..` is sent encoded.

    Values are percent-encoded (a `/` in one is `%2F`), so only a dot segment could still move the request: clients
    and servers resolve `/echo/..` to `/`. `%2E` is the same character to the API, but no one resolves it.
    """
    segments = template.split("/")
    for index, segment in enumerate(segments):
        if "{" in segment:
            rendered = _TEMPLATE_VARIABLE.sub(fill, segment)
            segments[index] = "%2E" * len(rendered) if rendered in (".", "..") else rendered
    return "/".join(segments)


def _deep_object(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    """`a[b][c]=v` pairs for nested objects (deepObject, Stripe-style form bodies)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                yield from _deep_object(f"{prefix}[{key}]", item)
    elif isinstance(value, list):
        scalars = all(not isinstance(item, dict | list) for item in value)
        for index, item in enumerate(value):
            if item is not None:
                yield from _deep_object(f"{prefix}[]" if scalars else f"{prefix}[{index}]", item)
    else:
        yield prefix, _scalar(value)


def _identity(text: str) -> str:
    return text


def serialize_parameter(
    name: str,
    value: Any,
    *,
    location: ArgLocation,
    style: str | None,
    explode: bool | None,
    encode: Callable[[str], str] = _identity,
) -> list[tuple[str, str]]:
    """(name, value) pairs of one query/header/cookie parameter per OpenAPI style and explode.

    `encode` is applied to each item before the style's delimiters join them, so a comma inside a
    value never reads as a delimiter (`a,b` of form/explode=false stays literal, a `,` in an item
    is encoded); the space and pipe delimiters are encoded as the OpenAPI examples show them.
    """
    if location is ArgLocation.HEADER:
        style = style or "simple"
        explode = bool(explode)
    else:
        style = style or "form"
        explode = True if explode is None else explode
    if style == "deepObject" and isinstance(value, dict | list):
        return [(key, encode(text)) for key, text in _deep_object(name, value)]
    if isinstance(value, list):
        items = [encode(_scalar(v)) for v in value if v is not None]
        if not items:
            return []  # an empty list is undefined in RFC 6570 terms: the parameter is left out, not sent empty
        if style == "spaceDelimited":
            return [(name, encode(" ").join(items))]
        if style == "pipeDelimited":
            return [(name, encode("|").join(items))]
        if explode and location is ArgLocation.QUERY:
            return [(name, item) for item in items]
        return [(name, ",".join(items))]
    if isinstance(value, dict):
        pairs = [(str(k), encode(_scalar(v))) for k, v in value.items() if v is not None]
        if not pairs:
            return []
        if explode and location is ArgLocation.QUERY:
            return pairs
        if explode:
            return [(name, ",".join(f"{encode(k)}={v}" for k, v in pairs))]
        return [(name, ",".join(f"{encode(k)},{v}" for k, v in pairs))]
    return [(name, encode(_scalar(value)))]


def encode_form(
    fields: Mapping[str, Any], styles: Mapping[str, tuple[str | None, bool | None]] | None = None
) -> list[tuple[str, str]]:
    """Flatten a form body per each field's OpenAPI encoding (`styles`: wire name -> (style, explode)).

    The default is OpenAPI's for `application/x-www-form-urlencoded`: style form, explode true, so an array
    repeats its key (`To=a&To=b`, as Twilio expects) and an object's properties become fields of their own;
    explode false joins with commas; `deepObject` nests as `a[b]=v` and `a[]=v` (Stripe's convention). A wire
    name that already ends in `[]` (`expand[]`) repeats once per item. Values are not percent-encoded here.
    """
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        if value is None:
            continue
        style, explode = (styles or {}).get(name, (None, None))
        if isinstance(value, list) and name.endswith("[]"):
            pairs.extend((name, _scalar(item)) for item in value if item is not None)
        elif style == "deepObject":
            pairs.extend(_deep_object(name, value))
        else:
            pairs.extend(serialize_parameter(name, value, location=ArgLocation.QUERY, style=style, explode=explode))
    return pairs


def _query_string(pairs: Iterable[tuple[str, str]]) -> str:
    """Join already-encoded values; brackets stay readable in names (deepObject, `expand[]`)."""
    return "&".join(f"{quote(k, safe='[]')}={v}" for k, v in pairs)


def _query_encoder(allow_reserved: bool) -> Callable[[str], str]:
    return (lambda text: _pct(text, allow_reserved=True)) if allow_reserved else _pct


# --- egress policy -------------------------------------------------------------------------------


def _host_pattern(template_url: str) -> re.Pattern[str] | None:
    """A host regex from a server URL template: `https://{site}.atlassian.net` -> `[^.]+\\.atlassian\\.net`."""
    marked = _TEMPLATE_VARIABLE.sub("\x00", template_url)
    host = urlsplit(marked if "://" in marked else f"https://{marked}").hostname
    if not host:
        return None
    return _compile_host(host.replace("\x00", "*"))


def _compile_host(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip().lower().rstrip(".")
    parts = [re.escape(part) for part in pattern.split("*")]
    return re.compile("[^./:@]+".join(parts))


@dataclass(slots=True)
class EgressPolicy:
    """An integration's Policy compiled for per-request checks."""

    hosts: list[re.Pattern[str]]
    methods: frozenset[str]
    timeout_s: float
    connect_timeout_s: float
    max_response_bytes: int
    allow_private_network: bool

    @classmethod
    def from_integration(cls, integration: Integration) -> EgressPolicy:
        policy = integration.policy
        if policy.allowed_hosts:
            hosts = [_compile_host(host) for host in policy.allowed_hosts]
        else:
            templates = (
                {integration.base_url}
                | {tool.http.server_url for tool in integration.tools if tool.http and tool.http.server_url}
                | {scheme.base_url for scheme in integration.auth if scheme.base_url}
                | {rule.url for scheme in integration.auth for rule in scheme.discover.values()}
            )
            hosts = [p for p in (_host_pattern(t) for t in templates if t) if p is not None]
        if policy.allowed_methods:
            methods = frozenset(m.upper() for m in policy.allowed_methods)
        else:
            methods = frozenset(tool.http.method.upper() for tool in integration.tools if tool.http)
        return cls(
            hosts=hosts,
            methods=methods,
            timeout_s=policy.timeout_s,
            connect_timeout_s=policy.connect_timeout_s,
            max_response_bytes=policy.max_response_bytes,
            allow_private_network=policy.allow_private_network,
        )

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(pattern.fullmatch(host) for pattern in self.hosts)


# --- the client ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prepared:
    method: str
    url: str
    headers: dict[str, str | bytes]
    content: bytes | None = None
    files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None = None
    secret_headers: tuple[str, ...] = ("Authorization", "Cookie")  # dropped on a redirect to another host


class UpstreamClient:
    """One integration's connection pool and egress policy."""

    def __init__(self, integration: Integration, *, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.integration = integration
        self.policy = EgressPolicy.from_integration(integration)
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        if transport is None:
            private = self.policy.allow_private_network
            transport = Http1Transport(
                ssl_context=shared_ssl_context(),
                resolve=None if private else public_address,
                fallback=PoolTransport(limits=limits, allow_private=private),
                max_connections=limits.max_connections or 100,
                max_keepalive_connections=limits.max_keepalive_connections or 20,
            )
        self._client = httpx2.AsyncClient(
            follow_redirects=False,
            timeout=httpx2.Timeout(self.policy.timeout_s, connect=self.policy.connect_timeout_s),
            limits=limits,
            trust_env=False,  # no proxies or netrc credentials picked up from the environment
            transport=transport,
            # The pool is shared by every caller of this integration: a cookie one upstream answer sets
            # must never ride along on someone else's request.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )
        # What the client's build_request/send would add to every request, computed once: tool calls go
        # straight to the transport (`_send`), which saves a fifth of the HTTP client's CPU per call.
        self._transport = transport
        self._default_headers = {name.lower(): value for name, value in self._client.headers.items()}
        self._timeout = self._client.timeout.as_dict()
        self._schemes = {scheme.id: scheme for scheme in integration.auth}
        # Schemes whose credentials call another server (Atlassian OAuth: the api.atlassian.com gateway); empty for
        # nearly every integration, so the per-call lookup is one falsy check.
        self._scheme_servers = {scheme.id: scheme.base_url for scheme in integration.auth if scheme.base_url}
        self._presets = _presets(integration)
        self._shapers = _shapers(integration)
        self._base64 = _base64_arguments(integration)
        # Tools whose body is one non-JSON document (text/plain, application/zip, ...), by its media type.
        self._raw_bodies = {
            tool.name: _sendable_media_type(arg.content_type)
            for tool in integration.tools
            if tool.http is not None
            for arg in tool.http.args
            if arg.location is ArgLocation.BODY_ROOT
            and arg.content_type
            and not _is_json(_media_type(arg.content_type))
        }

    async def aclose(self) -> None:
        await self._client.aclose()

    # - request building -

    def _server_url(
        self, binding: HttpBinding, credential: Credential | None, schemes: Iterable[AuthScheme] = ()
    ) -> str:
        """The server URL of one request: the operation's own, else the applied scheme's, else the integration's."""
        template = binding.server_url or self.integration.base_url
        if self._scheme_servers and not binding.server_url:
            for scheme in schemes:
                if scheme.id in self._scheme_servers:
                    template = self._scheme_servers[scheme.id]
                    break
        overrides = credential.server_variables if credential else {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            variable = self.integration.server_variables.get(name)
            value = overrides.get(name) if name in overrides else (variable.default if variable else None)
            if value is None:
                raise _UpstreamFailure(self._no_value(name))
            if variable is not None and variable.enum and value not in variable.enum:
                raise _UpstreamFailure(f"server variable {name!r} must be one of {variable.enum}, got {value!r}")
            return value

        return _TEMPLATE_VARIABLE.sub(substitute, template).rstrip("/")

    def _no_value(self, name: str) -> str:
        slug = self.integration.slug
        how = f"set {env_prefix(slug)}VAR_{name.upper()}"
        for scheme in self.integration.auth:
            if name in scheme.discover:
                # Found when connecting: a credential without it predates the scheme's discovery, or was entered by hand.
                how = f"connect {slug} again with {scheme.label or scheme.id} (it is found after sign-in), or {how}"
        return f"server variable {name!r} of {slug!r} has no value; {how}"

    def _security(self, binding: HttpBinding, credential: Credential | None) -> list[AuthScheme]:
        """The schemes to apply: the first alternative this credential satisfies."""
        if binding.security == []:
            # Public per the description: still send the user's credential when one fits (higher limits, private
            # data); descriptions such as Notion's mark authenticated operations `security: []`.
            alternatives, optional = [[scheme.id] for scheme in self.integration.auth], True
        elif binding.security is not None:
            alternatives, optional = binding.security, False
        elif self.integration.default_security:
            alternatives, optional = self.integration.default_security, False
        else:
            # No declared requirement: use a credential when one fits, send anonymously otherwise.
            alternatives, optional = [[scheme.id] for scheme in self.integration.auth], True
        if not alternatives or any(not alternative for alternative in alternatives):
            optional = True
        for alternative in alternatives:
            schemes = [self._schemes[i] for i in alternative if i in self._schemes]
            complete = bool(schemes) and len(schemes) == len(alternative)
            if complete and credential is not None and all(credential.satisfies(s) for s in schemes):
                return schemes
        if optional:
            return []
        wanted = ", ".join(
            f"{s.type} ({s.label or s.id})" for alt in alternatives for s in (self._schemes.get(i) for i in alt) if s
        )
        prefix = env_prefix(self.integration.slug)
        raise _UpstreamFailure(
            f"no credential configured for {self.integration.name} ({self.integration.slug}); it needs {wanted}. "
            f"Set {prefix}TOKEN (or {prefix}API_KEY, {prefix}USERNAME/{prefix}PASSWORD) and retry"
        )

    def prepare(
        self,
        tool: Tool,
        credential: Credential | None,
        *,
        path: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        headers: Mapping[str, Any] | None,
        cookies: Mapping[str, Any] | None,
        body: Any,
        form: Mapping[str, Any] | None,
        multipart: Mapping[str, Any] | None,
    ) -> _Prepared:
        """Build the request (no I/O): URL, headers, body, credentials."""
        binding = tool.http
        if binding is None:
            raise _UpstreamFailure(f"tool {tool.name!r} has no HTTP binding")
        args = {(arg.location, arg.wire_name): arg for arg in binding.args}
        fixed = binding.fixed
        # The spec's defaults fill in what the caller left out (None), after the caller's own values.
        preset = self._presets.get(tool.name)
        defaults, body_defaults = (preset.values, preset.body) if preset is not None else (None, None)

        def merged(location: ArgLocation, given: Mapping[str, Any] | None) -> dict[str, Any]:
            values = dict(fixed.get(location, {}))
            values.update({k: v for k, v in (given or {}).items() if v is not None})
            if defaults:
                for key, value in defaults.get(location, {}).items():
                    values.setdefault(key, value)
            return values

        def arg(location: ArgLocation, name: str) -> ArgBinding | None:
            return args.get((location, name))

        # Path
        path_values = merged(ArgLocation.PATH, path)

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in path_values:
                raise _UpstreamFailure(f"missing path parameter {name!r} for {binding.method} {binding.path}")
            spec = arg(ArgLocation.PATH, name)
            text = serialize_path(
                name,
                path_values[name],
                style=spec.style if spec else None,
                explode=spec.explode if spec else None,
            )
            if not text:
                # `/repos//issues` is another endpoint to many servers (they merge the slashes).
                raise _UpstreamFailure(
                    f"path parameter {name!r} is empty; give a value ({binding.method} {binding.path})"
                )
            return text

        rendered_path = render_path(binding.path, fill)
        if not rendered_path.startswith("/"):
            rendered_path = "/" + rendered_path
        # The scheme decides the server too (an OAuth token may be valid only at a gateway), so it is chosen first.
        applied = self._security(binding, credential)
        url = self._server_url(binding, credential, applied) + rendered_path

        def serialized(location: ArgLocation, given: Mapping[str, Any] | None) -> list[tuple[str, str]]:
            pairs: list[tuple[str, str]] = []
            for name, value in merged(location, given).items():
                spec = arg(location, name)
                if location is ArgLocation.QUERY:
                    encode = _query_encoder(bool(spec and spec.allow_reserved))
                elif location is ArgLocation.COOKIE:
                    encode = _pct
                else:
                    encode = _identity
                if spec is not None and spec.content_type and _is_json(_media_type(spec.content_type)):
                    # A parameter described by `content` is one serialised value, not a style's pairs.
                    pairs.append((name, encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False))))
                    continue
                style, explode = (spec.style, spec.explode) if spec else (None, None)
                pairs.extend(
                    serialize_parameter(name, value, location=location, style=style, explode=explode, encode=encode)
                )
            return pairs

        query_pairs = serialized(ArgLocation.QUERY, query)
        out_headers = _checked_headers(serialized(ArgLocation.HEADER, headers))
        cookie_pairs = serialized(ArgLocation.COOKIE, cookies)

        # Credentials
        secret_headers = ["Authorization", "Cookie"]
        for scheme in applied:
            assert credential is not None  # _security returns schemes only for a credential that satisfies them
            if scheme.type == "api_key":
                key = credential.api_key or credential.token or ""
                name = scheme.param_name or "X-API-Key"
                if scheme.location == "query":
                    query_pairs.append((name, _pct(key)))
                elif scheme.location == "cookie":
                    cookie_pairs.append((name, _pct(key)))
                else:
                    out_headers[name] = key
                    secret_headers.append(name)
            elif scheme.type == "basic":
                raw = f"{credential.username}:{credential.password}".encode()
                out_headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
            elif scheme.type == "bearer":
                out_headers["Authorization"] = f"{scheme.prefix or 'Bearer'} {credential.token}"
            else:  # oauth2 / openid_connect: the access token travels as a bearer token
                out_headers["Authorization"] = f"Bearer {credential.token}"
        if cookie_pairs:
            out_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookie_pairs)
        if query_pairs:
            url += "?" + _query_string(query_pairs)

        prepared = _Prepared(
            method=binding.method.upper(), url=url, headers=out_headers, secret_headers=tuple(secret_headers)
        )

        # Body
        fixed_body = fixed.get(ArgLocation.BODY, {})
        raw_body = self._raw_bodies.get(tool.name)
        if binding.body_encoding == "form" or form:
            styles = {a.wire_name: (a.style, a.explode) for a in binding.args if a.location is ArgLocation.FORM}
            pairs = encode_form(merged(ArgLocation.FORM, form), styles)
            if pairs or binding.body_required:
                prepared.content = "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in pairs).encode()
                out_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif binding.body_encoding == "multipart" or multipart:
            prepared.files = self._multipart(tool, merged(ArgLocation.MULTIPART, multipart))
        elif raw_body is not None and (body is not None or body_defaults):
            value = body if body is not None else (body_defaults or {}).get("")
            if value is not None:
                prepared.content = self._raw_content(tool, raw_body, value)
                out_headers.setdefault("Content-Type", raw_body)
        else:
            has_root = any(a.location is ArgLocation.BODY_ROOT for a in binding.args)
            if body_defaults:
                if has_root:
                    body = body_defaults[""] if body is None else body
                elif isinstance(body, Mapping) or body is None:
                    body = {k: v for k, v in (body or {}).items() if v is not None}
                    for key, value in body_defaults.items():
                        body.setdefault(key, value)
            if has_root:
                payload: Any = body
            elif isinstance(body, Mapping):
                # None means "not given" (generated functions default every optional argument to it), except for a
                # required property, where it can only be the caller's explicit null (a nullable field).
                payload = {k: v for k, v in body.items() if v is not None or _required_body(binding, k)} | dict(
                    fixed_body
                )
            else:
                payload = body if body is not None else (dict(fixed_body) or None)
            if payload == {} and not binding.body_required:
                payload = None
            if payload is not None or (binding.body_required and binding.body_encoding == "json"):
                prepared.content = json.dumps(payload if payload is not None else {}, ensure_ascii=False).encode()
                out_headers.setdefault("Content-Type", "application/json")
        out_headers.setdefault("Accept", binding.response_content_type or "application/json, */*;q=0.5")
        return prepared

    def _raw_content(self, tool: Tool, media_type: str, value: Any) -> bytes:
        """A non-JSON body as its own bytes: base64 arguments decoded, text as UTF-8, never a JSON string."""
        if tool.name in self._base64 and "" in self._base64[tool.name][ArgLocation.BODY_ROOT]:
            return _decoded(value, f"the request body ({media_type})")
        if _is_json(_media_type(media_type)) or not isinstance(value, str):
            return json.dumps(value, ensure_ascii=False).encode() if not isinstance(value, str) else value.encode()
        return value.encode()

    def _multipart(
        self, tool: Tool, fields: Mapping[str, Any]
    ) -> list[tuple[str, tuple[str | None, bytes, str | None]]]:
        """Split multipart values into form fields and file parts.

        A file part (a base64 argument) is sent as its decoded bytes with the part's declared content type; an
        object `{"content" | "content_base64", "filename"?, "content_type"?}` is a file too. A part declared with
        a content type of its own (`encoding.<part>.contentType`: a JSON metadata part) carries it; an array
        argument is one part per item.
        """
        assert tool.http is not None
        specs = {a.wire_name: a for a in tool.http.args if a.location is ArgLocation.MULTIPART}
        binary = self._base64[tool.name][ArgLocation.MULTIPART] if tool.name in self._base64 else frozenset()
        # Plain fields are parts without a filename, so the body is multipart even with no file in it.
        files: list[tuple[str, tuple[str | None, bytes, str | None]]] = []
        for name, value in fields.items():
            spec = specs.get(name)
            declared = spec.content_type if spec is not None else None
            for item in value if isinstance(value, list) and (name in binary or not declared) else [value]:
                if item is None:
                    continue
                if isinstance(item, dict) and ("content" in item or "content_base64" in item):
                    if "content_base64" in item:
                        raw = _decoded(item["content_base64"], f"multipart field {name!r}: content_base64")
                    else:
                        raw = str(item["content"]).encode()
                    mime = str(item.get("content_type") or declared or "application/octet-stream")
                    files.append((name, (str(item.get("filename") or name), raw, mime)))
                elif name in binary and isinstance(item, str):
                    files.append((name, (name, _decoded(item, f"multipart field {name!r}"), declared)))
                elif declared and _is_json(_media_type(declared)):
                    files.append((name, (None, json.dumps(item, ensure_ascii=False).encode(), declared)))
                elif declared and isinstance(item, str):
                    # A text file given as its text (no base64 in the schema): a file part of that type.
                    files.append((name, (name, item.encode(), declared)))
                else:
                    files.append((name, (None, _scalar(item).encode(), declared)))
        return files

    # - egress checks -

    def _check_destination(self, method: str, url: str) -> httpx2.URL:
        try:
            parsed = httpx2.URL(url)
        except httpx2.InvalidURL as exc:
            raise EgressDenied(f"invalid upstream URL: {exc}") from exc
        if parsed.scheme not in ("http", "https"):
            raise EgressDenied(f"scheme {parsed.scheme!r} is not allowed (http and https only)")
        host = parsed.host
        if not self.policy.host_allowed(host):
            raise EgressDenied(f"host {host!r} is not in the allowed hosts of {self.integration.slug!r}")
        if method not in self.policy.methods:
            raise EgressDenied(f"method {method} is not allowed for {self.integration.slug!r}")
        return parsed

    # - requests of the hub itself -

    async def fetch_json(self, url: str, *, token: str) -> Any:
        """GET a JSON document with a bearer token for the hub itself (what an OAuth sign-in granted).

        The integration's allowed hosts and private-address rule apply as to tool calls; its allowed methods are
        the tools' and do not. Redirects are not followed. Raises FetchFailed.
        """
        try:
            target = httpx2.URL(url)
        except httpx2.InvalidURL as exc:
            raise FetchFailed(f"GET {url}: invalid URL: {exc}") from exc
        if target.scheme not in ("http", "https") or not self.policy.host_allowed(target.host):
            raise FetchFailed(
                f"GET {url}: refused by policy: host {target.host!r} is not in the allowed hosts of "
                f"{self.integration.slug!r}"
            )
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            with anyio.fail_after(self.policy.timeout_s):  # the whole exchange, connecting included
                response = await self._client.send(
                    self._client.build_request("GET", target, headers=headers), stream=True
                )
                try:
                    output = _shape(response, await self._read_capped(response))
                finally:
                    await response.aclose()
        except EgressDenied as exc:
            raise FetchFailed(f"GET {url}: refused by policy: {exc}") from exc
        except (_UpstreamFailure, UnresolvableHost) as exc:
            raise FetchFailed(f"GET {url}: {exc}") from exc
        except (TimeoutError, httpx2.HTTPError) as exc:
            raise FetchFailed(f"GET {url}: {type(exc).__name__}: {exc or 'no answer in time'}") from exc
        if output.is_error:
            raise FetchFailed(f"GET {url}: {output.text}")
        if not 200 <= response.status_code < 300 or output.structured is None:
            raise FetchFailed(f"GET {url}: expected a JSON answer, got HTTP {response.status_code} {output.mime_type}")
        return output.structured

    # - the exchange -

    async def send(self, tool: Tool, credential: Credential | None, *, full: bool = False, **parts: Any) -> ToolOutput:
        """Send one tool's request and shape the response; every failure is a tool error.

        `full` skips the spec's response shaping (transform, `keep`): the answer as the upstream sent it.
        """
        binding = tool.http
        where = f"{binding.method} {binding.path}" if binding else tool.name
        try:
            shaper = None if full else self._shapers.get(tool.name)
            # `timeout_s` is the call's deadline, connecting, redirects, a slow trickle of bytes and an input
            # transform's lookups included; `connect_timeout_s` only fails a dead address sooner.
            with anyio.fail_after(self.policy.timeout_s):
                raw = None
                if tool.input is not None:
                    parts["body"], raw = await self._build_input(tool, credential, parts)
                prepared = self.prepare(tool, credential, **parts)
                if raw is not None:  # a body the transform encoded itself (a multipart/related upload)
                    prepared.files = None
                    prepared.content, prepared.headers["Content-Type"] = raw
                return await self._exchange(prepared, shaper)
        except EgressDenied as exc:
            return _error(f"{where}: refused by policy: {exc}")
        except _UpstreamFailure as exc:
            return _error(f"{where}: {exc}", status=exc.status, structured=exc.structured)
        except UnresolvableHost as exc:
            return _error(f"{where}: {exc}")
        except (TimeoutError, httpx2.TimeoutException) as exc:
            if isinstance(exc, httpx2.ConnectTimeout):
                return _error(f"{where}: could not connect to the upstream within {self.policy.connect_timeout_s:g}s")
            return _error(f"{where}: the upstream did not answer within {self.policy.timeout_s:g}s (timeout)")
        except httpx2.ConnectError as exc:
            return _error(f"{where}: could not connect to the upstream: {exc or type(exc).__name__}")
        except httpx2.HTTPError as exc:
            return _error(f"{where}: the upstream request failed: {type(exc).__name__}: {exc}")

    async def _build_input(
        self, tool: Tool, credential: Credential | None, parts: Mapping[str, Any]
    ) -> tuple[Any, tuple[bytes, str] | None]:
        """Spec `input:`: the body built from the friendly arguments by the tool's transform (upstream/transforms.py).

        Returns the JSON body for `prepare`, or None and (bytes, content type) for a body the transform encoded.
        """
        from mcphub.runtime.upstream.transforms import InputError, RawBody, build_input

        binding, shape = tool.http, tool.input
        assert binding is not None and shape is not None
        # Lookups go where the tool goes, with its credential, fixed headers (API versions) and egress policy.
        headers = {ArgLocation.HEADER: binding.fixed[ArgLocation.HEADER]} if ArgLocation.HEADER in binding.fixed else {}

        async def lookup(path: str, values: Mapping[str, Any], query: Mapping[str, Any]) -> ToolOutput:
            get = HttpBinding(
                method="GET", path=path, fixed=headers, server_url=binding.server_url, security=binding.security
            )
            probe = Tool(name=f"{tool.name} lookup", http=get)  # a name of its own: the tool's defaults don't apply
            none: dict[str, Any] = {"headers": None, "cookies": None, "body": None, "form": None, "multipart": None}
            return await self._exchange(self.prepare(probe, credential, path=values, query=query, **none))

        async def post_bytes(url: str, content: bytes, content_type: str) -> ToolOutput:
            # An upload URL the API handed out (Slack's files.slack.com): signed by itself, so no credential goes
            # with it; the egress policy (allowed hosts, private addresses) applies as to every request.
            prepared = _Prepared(method="POST", url=url, headers={"Content-Type": content_type}, content=content)
            return await self._exchange(prepared)

        path = {**binding.fixed.get(ArgLocation.PATH, {}), **(parts.get("path") or {})}
        try:
            body = await build_input(shape, parts.get("body"), path, lookup, post_bytes)
        except InputError as exc:
            raise _UpstreamFailure(str(exc)) from exc
        return (None, (body.content, body.content_type)) if isinstance(body, RawBody) else (body, None)

    async def _exchange(self, prepared: _Prepared, shaper: Callable[[Any], Any] | None = None) -> ToolOutput:
        method, url = prepared.method, prepared.url
        headers = dict(prepared.headers)
        content, files = prepared.content, prepared.files
        origin_host: str | None = None
        for _ in range(MAX_REDIRECTS + 1):
            target = self._check_destination(method, url)
            if origin_host is None:
                origin_host = target.host
            elif target.host != origin_host:
                # Credentials belong to the host they were configured for, never to a redirect target.
                for name in prepared.secret_headers:
                    headers.pop(name, None)
            traced = trace.record(method, str(target), headers, content)  # the playground's view, else nothing
            response = await self._send(method, target, headers, content, files)
            if traced is not None:
                traced.status = response.status_code
            try:
                if response.status_code in _REDIRECT_STATUSES and "location" in response.headers:
                    location = urljoin(str(target), response.headers["location"])
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, content, files = "GET", None, None
                        headers.pop("Content-Type", None)
                    url = location
                    continue
                raw = await self._read_capped(response)
                return _shape(response, raw, shaper)
            finally:
                await response.aclose()
        raise _UpstreamFailure(f"too many redirects (more than {MAX_REDIRECTS})")

    async def _send(
        self,
        method: str,
        url: httpx2.URL,
        headers: Mapping[str, str | bytes],
        content: bytes | None,
        files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None,
    ) -> httpx2.Response:
        """What `AsyncClient.send(build_request(...), stream=True)` does for our requests, without its layers.

        This client never follows redirects (`_exchange` does, checking each hop), stores no cookies and runs no
        auth flow or event hooks, so all that is left of the client's work is its default headers and timeouts.
        """
        merged: dict[str, str | bytes] = dict(self._default_headers)
        for name, value in headers.items():
            merged[name.lower()] = value
        # As bytes: a header value outside ASCII (sent as UTF-8) would make the client's own encoding raise.
        raw = [(name.encode(), value if isinstance(value, bytes) else value.encode()) for name, value in merged.items()]
        request = httpx2.Request(
            method, url, headers=raw, content=content, files=files, extensions={"timeout": self._timeout}
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        return response

    async def _read_capped(self, response: httpx2.Response) -> bytes:
        cap = self.policy.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise _UpstreamFailure(
                f"the upstream response is {int(declared)} bytes, over this integration's limit of {cap} bytes",
                status=response.status_code,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise _UpstreamFailure(
                    f"the upstream response exceeded this integration's limit of {cap} bytes; "
                    "narrow the request (filters, pagination)",
                    status=response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)


# --- per-tool settings built once at mount time ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Preset:
    values: dict[ArgLocation, dict[str, Any]]  # the spec's defaults by location and wire name (JSON body apart)
    body: dict[str, Any]  # defaults of JSON body properties ("" for a whole-body argument)


def _presets(integration: Integration) -> dict[str, _Preset]:
    """Each HTTP tool with spec defaults: its default values placed where the wire needs them."""
    presets: dict[str, _Preset] = {}
    for tool in integration.tools:
        if tool.http is None or not tool.defaults:
            continue
        values: dict[ArgLocation, dict[str, Any]] = {}
        body: dict[str, Any] = {}
        for arg in tool.http.args:
            if arg.name not in tool.defaults:
                continue
            value = tool.defaults[arg.name]
            if arg.location is ArgLocation.BODY:
                body[arg.wire_name] = value
            elif arg.location is ArgLocation.BODY_ROOT:
                body[""] = value
            else:
                values.setdefault(arg.location, {})[arg.wire_name] = value
        presets[tool.name] = _Preset(values=values, body=body)
    return presets


def _base64_arguments(integration: Integration) -> dict[str, dict[ArgLocation, frozenset[str]]]:
    """Per tool, the wire names of arguments whose schema says base64 (`contentEncoding`): files and binary bodies.

    The agent passes bytes as base64 text; the upstream must get the bytes.
    """
    found: dict[str, dict[ArgLocation, frozenset[str]]] = {}
    for tool in integration.tools:
        if tool.http is None:
            continue
        properties = tool.input_schema.get("properties")
        if not isinstance(properties, dict):
            continue
        by_location: dict[ArgLocation, set[str]] = {}
        for arg in tool.http.args:
            schema = properties.get(arg.name)
            if not isinstance(schema, dict):
                continue
            items = schema.get("items")
            if schema.get("contentEncoding") == "base64" or (
                isinstance(items, dict) and items.get("contentEncoding") == "base64"
            ):
                by_location.setdefault(arg.location, set()).add(arg.wire_name)
        if by_location:
            found[tool.name] = {
                location: frozenset(by_location.get(location, ()))
                for location in (ArgLocation.BODY_ROOT, ArgLocation.MULTIPART)
            }
    return found


def _required_body(binding: HttpBinding, wire_name: str) -> bool:
    return any(a.required and a.wire_name == wire_name and a.location is ArgLocation.BODY for a in binding.args)


def _decoded(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _UpstreamFailure(f"{what} is not valid base64; send the bytes base64-encoded") from exc


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _sendable_media_type(content_type: str) -> str:
    """A described media type as a Content-Type header: a range (`image/*`, `*/*`) is no type to send."""
    return "application/octet-stream" if "*" in content_type else content_type


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _checked_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str | bytes]:
    """Header parameters as they can go on the wire, or a tool error naming the header that cannot.

    A name must be an RFC 9110 token; a value may hold any text but a line break or NUL (which would end the
    header); text outside ASCII travels as UTF-8.
    """
    out: dict[str, str | bytes] = {}
    for name, value in pairs:
        if not _HEADER_NAME.fullmatch(name):
            raise _UpstreamFailure(
                f"header {name!r} cannot be sent: HTTP header names are ASCII letters, digits and !#$%&'*+-.^_`|~; "
                "the API description declares this name, correct it there"
            )
        if any(ch in value for ch in "\r\n\x00"):
            raise _UpstreamFailure(f"header {name!r} cannot carry a line break or NUL; remove it from the value")
        out[name] = value if value.isascii() else value.encode()
    return out


def _shapers(integration: Integration) -> dict[str, Callable[[Any], Any]]:
    """Each tool's response shaper (spec `response:`); the transforms module loads only when a tool has one."""
    shaped = [tool for tool in integration.tools if tool.response is not None]
    if not shaped:
        return {}
    from mcphub.runtime.upstream.transforms import shaper_for

    return {tool.name: shaper_for(tool.response) for tool in shaped if tool.response is not None}


# --- response shaping ----------------------------------------------------------------------------


def _error(text: str, *, status: int | None = None, structured: Any = None) -> ToolOutput:
    return ToolOutput(text=text, is_error=True, upstream_status=status, structured=structured)


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in ("application/xml", "application/javascript", "application/x-www-form-urlencoded")
        or media_type.endswith("+xml")
    )


def _error_message(value: Any) -> str | None:
    """The human part of a JSON error body, from the shapes APIs commonly use."""
    if isinstance(value, dict):
        for key in ("message", "error_description", "detail", "title", "error", "errors", "msg"):
            item = value.get(key)
            if isinstance(item, str) and item:
                return item
            nested = _error_message(item)
            if nested:
                return nested
    if isinstance(value, list) and value:
        return _error_message(value[0])
    return None


def _shape(response: httpx2.Response, raw: bytes, shaper: Callable[[Any], Any] | None = None) -> ToolOutput:
    status = response.status_code
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    charset = response.charset_encoding or "utf-8"
    if status >= 400:
        parsed: Any = None
        if _is_json(media_type) or raw[:1] in (b"{", b"["):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        detail = _error_message(parsed) if parsed is not None else None
        if detail is None:
            detail = raw[:_ERROR_BODY_CHARS].decode(charset, errors="replace").strip() or response.reason_phrase
        return _error(
            f"upstream returned HTTP {status} {response.reason_phrase}: {detail}", status=status, structured=parsed
        )
    if not raw:
        return ToolOutput(text=f"HTTP {status} {response.reason_phrase} (empty body)", upstream_status=status)
    if _is_json(media_type):
        try:
            value = json.loads(raw.decode(charset, errors="strict"))
        except (ValueError, LookupError) as exc:
            snippet = raw[:120].decode(charset, errors="replace")
            return _error(f"the upstream sent malformed JSON ({exc}); body starts with {snippet!r}", status=status)
        if shaper is not None:
            value = shaper(value)
            if isinstance(value, ToolOutput):  # the transform read a failure in a success answer (Slack's ok: false)
                return value
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return ToolOutput(text=text, structured=value, upstream_status=status, mime_type=media_type)
    if _is_text(media_type) or (not media_type and _looks_textual(raw)):
        return ToolOutput(
            text=raw.decode(charset, errors="replace"), upstream_status=status, mime_type=media_type or "text/plain"
        )
    return ToolOutput(
        binary=raw,
        mime_type=media_type or "application/octet-stream",
        upstream_status=status,
        meta={"url": str(response.url)},
    )


def _looks_textual(raw: bytes) -> bool:
    try:
        raw[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in raw[:4096]
