"""Request building: one tool call's arguments and credential become the upstream request (no I/O).

`RequestBuilder` holds what an integration's tools need, worked out once at mount time (spec defaults placed
by location, base64 arguments, raw-body media types, auth schemes by id); `prepare` then fills the path
template, serialises query/header/cookie parameters and the body (`serialization.py`), picks the security
alternative the credential satisfies and injects it (bearer, basic, API key in header/query/cookie), and
resolves the server URL with its variables. What cannot be sent raises `UpstreamFailure` with a message the
model can act on.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mcphub.compiler.ir import ArgBinding, ArgLocation, AuthScheme, HttpBinding, Integration, Tool
from mcphub.runtime.upstream.credentials import Credential, env_prefix
from mcphub.runtime.upstream.response import UpstreamFailure
from mcphub.runtime.upstream.serialization import (
    TEMPLATE_VARIABLE,
    bare_media_type,
    encode_form,
    identity,
    is_json,
    pct,
    query_encoder,
    query_string,
    render_path,
    scalar,
    sendable_media_type,
    serialize_parameter,
    serialize_path,
    to_wire_names,
)
from mcphub.runtime.upstream.xml_body import NotSendableAsXml, to_xml

__all__ = ["Prepared", "RequestBuilder"]


@dataclass(slots=True)
class Prepared:
    method: str
    url: str
    headers: dict[str, str | bytes]
    content: bytes | None = None
    files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None = None
    secret_headers: tuple[str, ...] = ("Authorization", "Cookie")  # dropped on a redirect to another host


class RequestBuilder:
    """Builds the requests of one integration's HTTP tools."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self._schemes = {scheme.id: scheme for scheme in integration.auth}
        # Schemes whose credentials call another server (Atlassian OAuth: the api.atlassian.com gateway); empty for
        # nearly every integration, so the per-call lookup is one falsy check.
        self._scheme_servers = {scheme.id: scheme.base_url for scheme in integration.auth if scheme.base_url}
        self._presets = _presets(integration)
        self._base64 = _base64_arguments(integration)
        # Tools with nested property names renamed for clients, and the arguments whose values carry them.
        self._renamed = {
            tool.name: [arg for arg in tool.http.args if arg.wire_names]
            for tool in integration.tools
            if tool.http is not None and any(arg.wire_names for arg in tool.http.args)
        }
        # Tools whose body is one non-JSON document (text/plain, application/zip, ...), by its media type.
        self._raw_bodies = {
            tool.name: sendable_media_type(arg.content_type)
            for tool in integration.tools
            if tool.http is not None
            for arg in tool.http.args
            if arg.location is ArgLocation.BODY_ROOT
            and arg.content_type
            and not is_json(bare_media_type(arg.content_type))
        }
        # Of those, the XML bodies of objects or arrays: their element names (the argument is JSON).
        self._xml_bodies = {
            tool.name: arg.xml
            for tool in integration.tools
            if tool.http is not None
            for arg in tool.http.args
            if arg.location is ArgLocation.BODY_ROOT and arg.xml is not None
        }

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
                raise UpstreamFailure(self._no_value(name))
            if variable is not None and variable.enum and value not in variable.enum:
                raise UpstreamFailure(f"server variable {name!r} must be one of {variable.enum}, got {value!r}")
            return value

        return TEMPLATE_VARIABLE.sub(substitute, template).rstrip("/")

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
            # Public per the description (or the spec's `public:`): no credential goes with it.
            return []
        if binding.security is not None:
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
        raise UpstreamFailure(
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
    ) -> Prepared:
        """Build the request (no I/O): URL, headers, body, credentials."""
        binding = tool.http
        if binding is None:
            raise UpstreamFailure(f"tool {tool.name!r} has no HTTP binding")
        args = {(arg.location, arg.wire_name): arg for arg in binding.args}
        if tool.name in self._renamed:
            # Nested property names the compiler made client-safe go back to the API's own names.
            groups = {
                ArgLocation.PATH: path,
                ArgLocation.QUERY: query,
                ArgLocation.HEADER: headers,
                ArgLocation.COOKIE: cookies,
                ArgLocation.BODY: body,
                ArgLocation.FORM: form,
                ArgLocation.MULTIPART: multipart,
            }
            for renamed in self._renamed[tool.name]:
                if renamed.location is ArgLocation.BODY_ROOT:
                    body = to_wire_names(body, renamed.wire_names, binding.wire_defs)
                    continue
                given = groups.get(renamed.location)
                if isinstance(given, Mapping) and given.get(renamed.wire_name) is not None:
                    changed = {
                        **given,
                        renamed.wire_name: to_wire_names(
                            given[renamed.wire_name], renamed.wire_names, binding.wire_defs
                        ),
                    }
                    groups[renamed.location] = changed
            path, query, headers, cookies = (
                groups[k] for k in (ArgLocation.PATH, ArgLocation.QUERY, ArgLocation.HEADER, ArgLocation.COOKIE)
            )
            form, multipart = groups[ArgLocation.FORM], groups[ArgLocation.MULTIPART]
            if not any(a.location is ArgLocation.BODY_ROOT for a in self._renamed[tool.name]):
                body = groups[ArgLocation.BODY]
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
                raise UpstreamFailure(f"missing path parameter {name!r} for {binding.method} {binding.path}")
            spec = arg(ArgLocation.PATH, name)
            text = serialize_path(
                name,
                path_values[name],
                style=spec.style if spec else None,
                explode=spec.explode if spec else None,
            )
            if not text:
                # `/repos//issues` is another endpoint to many servers (they merge the slashes).
                raise UpstreamFailure(
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
                    encode = query_encoder(bool(spec and spec.allow_reserved))
                elif location is ArgLocation.COOKIE:
                    encode = pct
                else:
                    encode = identity
                if spec is not None and spec.content_type and is_json(bare_media_type(spec.content_type)):
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
                    query_pairs.append((name, pct(key)))
                elif scheme.location == "cookie":
                    cookie_pairs.append((name, pct(key)))
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
            url += "?" + query_string(query_pairs)

        prepared = Prepared(
            method=binding.method.upper(), url=url, headers=out_headers, secret_headers=tuple(secret_headers)
        )

        # Body
        fixed_body = fixed.get(ArgLocation.BODY, {})
        raw_body = self._raw_bodies.get(tool.name)
        if binding.body_encoding in ("form", "multipart") and isinstance(body, Mapping):
            # A form body that is one of several shapes is one `body` argument (the compiler binds a union it cannot
            # flatten exactly that way): its fields are the form's fields.
            if binding.body_encoding == "form":
                form = {**body, **(form or {})}
            else:
                multipart = {**body, **(multipart or {})}
            body = None
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
                if (
                    body is None
                    and binding.body_required
                    and any(a.location is ArgLocation.BODY_ROOT and a.required for a in binding.args)
                ):
                    # A required whole-body argument can only be None when the caller gave null (validation refuses
                    # it left out), and a nullable body (GitHub's Pages site) takes it: `null` goes, not `{}`.
                    prepared.content = b"null"
                    out_headers.setdefault("Content-Type", "application/json")
                    out_headers.setdefault("Accept", binding.response_content_type or "application/json, */*;q=0.5")
                    return prepared
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
                out_headers.setdefault("Content-Type", binding.body_content_type or "application/json")
        out_headers.setdefault("Accept", binding.response_content_type or "application/json, */*;q=0.5")
        return prepared

    def _raw_content(self, tool: Tool, media_type: str, value: Any) -> bytes:
        """A non-JSON body as its own bytes: base64 arguments decoded, text as UTF-8, never a JSON string."""
        if tool.name in self._base64 and "" in self._base64[tool.name][ArgLocation.BODY_ROOT]:
            return _decoded(value, f"the request body ({media_type})")
        xml = self._xml_bodies.get(tool.name)
        if xml is not None and isinstance(value, dict | list):
            try:
                return to_xml(value, xml)
            except NotSendableAsXml as exc:
                raise UpstreamFailure(f"the request body ({media_type}) cannot be sent: {exc}") from exc
        if is_json(bare_media_type(media_type)) or not isinstance(value, str):
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
                elif declared and is_json(bare_media_type(declared)):
                    files.append((name, (None, json.dumps(item, ensure_ascii=False).encode(), declared)))
                elif declared and isinstance(item, str):
                    # A text file given as its text (no base64 in the schema): a file part of that type.
                    files.append((name, (name, item.encode(), declared)))
                else:
                    files.append((name, (None, scalar(item).encode(), declared)))
        return files


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
        raise UpstreamFailure(f"{what} is not valid base64; send the bytes base64-encoded") from exc


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _checked_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str | bytes]:
    """Header parameters as they can go on the wire, or a tool error naming the header that cannot.

    A name must be an RFC 9110 token; a value may hold any text but a line break or NUL (which would end the
    header); text outside ASCII travels as UTF-8.
    """
    out: dict[str, str | bytes] = {}
    for name, value in pairs:
        if not _HEADER_NAME.fullmatch(name):
            raise UpstreamFailure(
                f"header {name!r} cannot be sent: HTTP header names are ASCII letters, digits and !#$%&'*+-.^_`|~; "
                "the API description declares this name, correct it there"
            )
        if any(ch in value for ch in "\r\n\x00"):
            raise UpstreamFailure(f"header {name!r} cannot carry a line break or NUL; remove it from the value")
        out[name] = value if value.isascii() else value.encode()
    return out
