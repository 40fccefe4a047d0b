"""Apply a hub spec's curation to the Integration parsed from its source.

Curation is what a contributor decides on top of the API description: the integration's identity, auth and egress
policy, and which operations become tools under which names, with which defaults, fixed and hidden arguments.
`apply_curation` is pure: it returns a new Integration and leaves its input untouched. Every problem raises a
SpecError citing the spec line (e.g. an operation the source doesn't have, with the closest ones suggested).
"""

from __future__ import annotations

import copy
import difflib
import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import referencing.exceptions

from mcphub.compiler.ir import (
    INPUT_TRANSFORMS,
    RESPONSE_TRANSFORMS,
    ArgBinding,
    ArgLocation,
    AuthScheme,
    InputShape,
    Integration,
    OAuthFlow,
    Policy,
    ResponseShape,
    ServerVariable,
    ServerVariableDiscovery,
    Tool,
    ToolAnnotations,
)
from mcphub.compiler.locator import Locator
from mcphub.compiler.spec import (
    FIXED_LOCATIONS,
    HTTP_METHODS,
    VARIABLE_RE,
    ApiKeyAuthSpec,
    AuthSpec,
    BasicAuthSpec,
    BearerAuthSpec,
    HubSpec,
    InputSpec,
    OAuth2AuthSpec,
    PolicySpec,
    ResponseSpec,
    ToolAnnotationsSpec,
    ToolSpec,
    did_you_mean,
)

_DEFAULT_LABELS = {
    "oauth2": "Sign in (OAuth)",
    "bearer": "API token",
    "api_key": "API key",
    "basic": "Username and password",
    "openid_connect": "Sign in (OpenID Connect)",
}


def apply_curation(integration: Integration, spec: HubSpec, locator: Locator) -> Integration:
    """Return a copy of `integration` with the spec's identity, auth, policy and tool curation applied."""
    result = integration.model_copy(deep=True)
    result.slug = spec.slug
    result.name = spec.name
    if "category" in spec.model_fields_set or not result.category:
        result.category = spec.category
    if spec.description is not None:
        result.description = spec.description
    if spec.policy is not None:
        result.policy = _policy(result.policy, spec.policy)
    if spec.auth is not None:
        _replace_auth(result, spec)
    _drop_credential_params(result, spec, locator)
    selected = _select_tools(result, spec, locator)
    result.tools = [tool for tool, _ in selected]
    _apply_servers(result, spec, locator)
    _check_names(selected, spec, locator)
    _apply_public(result, spec, locator)
    return result


# --------------------------------------------------------------------------------------------------------------------
# Integration-level settings


def _drop_credential_params(result: Integration, spec: HubSpec, locator: Locator) -> None:
    for index, entry in enumerate(spec.credential_params):
        location, colon, wire = entry.partition(":")
        if not colon or location not in ("header", "query", "cookie", "form"):
            raise locator.error(
                f"credential_params[{index}]",
                f"'{entry}' must be header:<name>, query:<name>, cookie:<name> or form:<name>",
            )
        found = False
        for tool in result.tools:
            if tool.http is None:
                continue
            for arg in [
                a for a in tool.http.args if a.location.value == location and a.wire_name.lower() == wire.lower()
            ]:
                found = True
                _remove_arg(tool, arg.name)
        if not found:
            raise locator.error(
                f"credential_params[{index}]", f"no operation of the source has the parameter '{entry}'; remove it"
            )


def _policy(current: Policy, policy: PolicySpec) -> Policy:
    given = {name: getattr(policy, name) for name in policy.model_fields_set}
    return current.model_copy(update={k: v for k, v in given.items() if v is not None})


def _replace_auth(result: Integration, spec: HubSpec) -> None:
    previous = list(result.auth)
    result.auth = [
        _auth_scheme(s, scheme_id, previous) for s, scheme_id in zip(spec.auth or [], spec.auth_ids(), strict=True)
    ]
    # Any one of the spec's schemes authenticates any tool: the user picks one when connecting.
    alternatives = [[scheme.id] for scheme in result.auth]
    result.default_security = alternatives
    for tool in result.tools:
        # Operations the source marks as public (security: []) stay public; the rest use the integration default,
        # since the source's scheme ids no longer exist.
        if tool.http is not None and tool.http.security != []:
            tool.http.security = None


def _apply_public(result: Integration, spec: HubSpec, locator: Locator) -> None:
    """`public:` lists the tools that take no credential; every other HTTP tool then uses the integration's auth."""
    if spec.public is None:
        return
    tools = {tool.name: tool for tool in result.tools}
    for index, name in enumerate(spec.public):
        tool = tools.get(name)
        if tool is None:
            raise locator.error(
                f"public[{index}]",
                f"'{name}' is not a tool of this spec{did_you_mean(name, tools)}; list tool names as compiled "
                "(the name: of a tools: entry, without the slug)",
            )
        if tool.http is None:
            raise locator.error(f"public[{index}]", f"'{name}' is not an HTTP tool; only HTTP tools carry credentials")
    public = set(spec.public)
    for tool in result.tools:
        if tool.http is None:
            continue
        if tool.name in public:
            tool.http.security = []
        elif tool.http.security == []:
            tool.http.security = None  # the integration's default requirement


def _auth_scheme(spec: AuthSpec, scheme_id: str, previous: list[AuthScheme]) -> AuthScheme:
    label = spec.label or _DEFAULT_LABELS[spec.type]
    common: dict[str, Any] = {"id": scheme_id, "type": spec.type, "label": label, "description": spec.description}
    if isinstance(spec, OAuth2AuthSpec):
        known = {
            scope: meaning for scheme in previous for flow in scheme.flows for scope, meaning in flow.scopes.items()
        }
        flow = OAuthFlow(
            kind=spec.flow,
            authorization_url=spec.authorization_url,
            token_url=spec.token_url,
            refresh_url=spec.refresh_url,
            scopes={scope: known.get(scope, "") for scope in spec.scopes},
        )
        discover = {
            name: ServerVariableDiscovery(
                url=rule.url, items=rule.items, value=rule.value, label=rule.label, description=rule.description
            )
            for name, rule in spec.discover.items()
        }
        return AuthScheme(
            **common,
            flows=[flow],
            scopes=list(spec.scopes),
            refresh_scope=spec.refresh_scope,
            authorization_params=dict(spec.authorization_params),
            base_url=spec.base_url,
            discover=discover,
        )
    if isinstance(spec, BearerAuthSpec):
        return AuthScheme(**common, prefix=spec.prefix, bearer_format=spec.format)
    if isinstance(spec, ApiKeyAuthSpec):
        return AuthScheme(**common, location=spec.in_, param_name=spec.name)
    if isinstance(spec, BasicAuthSpec):
        return AuthScheme(**common)
    return AuthScheme(**common, openid_connect_url=spec.url, scopes=list(spec.scopes))


def _apply_servers(result: Integration, spec: HubSpec, locator: Locator) -> None:
    if spec.base_url is not None:
        result.base_url = spec.base_url
    _require_base_url(result, locator)
    for name, variable in spec.server_variables.items():
        result.server_variables[name] = ServerVariable(
            default=variable.default, enum=variable.enum, description=variable.description
        )
    templates = [result.base_url] + [t.http.server_url for t in result.tools if t.http and t.http.server_url]
    templates += [scheme.base_url for scheme in result.auth if scheme.base_url]
    used = {name for template in templates for name in VARIABLE_RE.findall(template)}
    for name in VARIABLE_RE.findall(spec.base_url or ""):
        if name not in result.server_variables:
            raise locator.error(
                "base_url",
                f"'{result.base_url}' uses {{{name}}} but no server variable '{name}' is defined; "
                f"add server_variables: {{{name}: {{default: ...}}}}",
            )
    for name in spec.server_variables:
        if name not in used:
            raise locator.error(
                f"server_variables.{name}",
                f"is not used by base_url '{result.base_url}' or any operation's server; "
                f"remove it or use {{{name}}} in base_url",
            )
    # Variables of servers the spec replaced would only make users fill in values nothing uses.
    result.server_variables = {k: v for k, v in result.server_variables.items() if k in used}
    _check_scheme_servers(result, spec, locator)


def _require_base_url(result: Integration, locator: Locator) -> None:
    """HTTP tools without any server URL could never be called: the spec must say where the API is."""
    if result.base_url or (result.auth and all(scheme.base_url for scheme in result.auth)):
        return
    homeless = [t for t in result.tools if t.enabled and t.http is not None and not t.http.server_url]
    if homeless:
        source = f"'{result.source.path}'" if result.source.path else "the source"
        raise locator.error(
            "base_url",
            f"is required: {source} declares no server URL ('servers:' in OpenAPI 3, 'host:' in Swagger 2), so "
            f"{len(homeless)} tools would have nowhere to send requests; add e.g. base_url: https://api.example.com/v1",
        )


def _check_scheme_servers(result: Integration, spec: HubSpec, locator: Locator) -> None:
    """Each scheme's base_url resolves, and (as a warning) its hosts are ones the egress policy lets through."""
    for index, scheme in enumerate(result.auth):
        if scheme.base_url is None and not scheme.discover:
            continue
        for name in VARIABLE_RE.findall(scheme.base_url or ""):
            if name not in result.server_variables and name not in scheme.discover:
                raise locator.error(
                    f"auth[{index}].base_url",
                    f"'{scheme.base_url}' uses {{{name}}}, which is neither a server variable nor discovered; add "
                    f"server_variables: {{{name}: {{default: ...}}}} or discover: {{{name}: {{url: ...}}}} "
                    "to this scheme",
                )
        allowed = result.policy.allowed_hosts
        if not allowed:
            continue  # the runtime admits the hosts of every server URL, these included
        urls = [(f"auth[{index}].base_url", scheme.base_url)] if scheme.base_url else []
        urls += [(f"auth[{index}].discover.{name}.url", rule.url) for name, rule in scheme.discover.items()]
        for field, url in urls:
            host = urlsplit(VARIABLE_RE.sub("x", url)).hostname or ""
            if host and not any(_host_matches(pattern, host) for pattern in allowed):
                result.warnings.append(
                    f"{locator.where(field)}: {field} host '{host}' is not in policy.allowed_hosts "
                    f"({', '.join(allowed)}), so requests with this scheme will be refused; add '{host}'"
                )


def _host_matches(pattern: str, host: str) -> bool:
    """Whether `host` is admitted by an allowed_hosts entry (`*` stands for one DNS label, as in the runtime)."""
    bare = pattern.split(":", 1)[0]
    regex = "[^./:@]+".join(re.escape(part) for part in bare.lower().split("*"))
    return re.fullmatch(regex, host.lower()) is not None


# --------------------------------------------------------------------------------------------------------------------
# Tools


def _method_path(tool: Tool) -> str | None:
    return f"{tool.http.method.upper()} {tool.http.path}" if tool.http else None


def _normalise_operation(operation: str) -> str:
    method, _, rest = operation.partition(" ")
    if rest.startswith("/") and method.upper() in HTTP_METHODS:
        return f"{method.upper()} {rest}"
    return operation


def _find(tools: list[Tool], operation: str) -> list[int]:
    """Indexes of the tools an `operation` selects: by source_ref, then by 'METHOD /path', then by tool name."""
    key = _normalise_operation(operation)
    for matches in (
        [i for i, t in enumerate(tools) if t.source_ref == operation],
        [i for i, t in enumerate(tools) if _method_path(t) == key],
        [i for i, t in enumerate(tools) if t.name == operation],
    ):
        if matches:
            return matches
    return []


def _select_tools(result: Integration, spec: HubSpec, locator: Locator) -> list[tuple[Tool, int | None]]:
    """The curated tools in spec order (then the rest with include: all), each with its tools[] index."""
    source_tools = result.tools
    listed: dict[int, int] = {}  # source index -> spec index
    for spec_index, entry in enumerate(spec.tools or []):
        field = f"tools[{spec_index}].operation"
        matches = _find(source_tools, entry.operation)
        if not matches:
            raise locator.error(field, _not_found(entry.operation, source_tools))
        if len(matches) > 1:
            names = ", ".join(f"'{source_tools[i].name}'" for i in matches)
            raise locator.error(
                field,
                f"'{entry.operation}' matches {len(matches)} tools ({names}); select one of them by its tool name",
            )
        if matches[0] in listed:
            first = listed[matches[0]]
            raise locator.error(
                field,
                f"'{entry.operation}' selects the same operation as tools[{first}] "
                f"(line {locator.line_of(f'tools[{first}]')}); merge the two entries",
            )
        listed[matches[0]] = spec_index
    selected: list[tuple[Tool, int | None]] = [(source_tools[i], n) for i, n in listed.items()]
    if spec.tools is None or spec.include == "all":
        selected += [(tool, None) for i, tool in enumerate(source_tools) if i not in listed]
    elif spec.search == "all":
        excluded: set[int] = set()
        for index, operation in enumerate(spec.search_exclude):
            matches = _find(source_tools, operation)
            if not matches:
                raise locator.error(f"search_exclude[{index}]", _not_found(operation, source_tools))
            excluded.update(matches)
        # Only what the integration's policy lets through: an operation on another host (uploads.github.com) or
        # with a method the policy refuses would be found by search and then always refused.
        selected += [
            (tool, None)
            for i, tool in enumerate(source_tools)
            if i not in listed and i not in excluded and _policy_admits(result.policy, tool)
        ]
    if spec.tools is not None and spec.search == "all":
        for tool, position in selected:
            tool.listed = position is not None
    for tool, position in selected:
        curation = None if position is None else (spec.tools or [])[position]
        if curation is not None:
            _curate_tool(tool, curation, f"tools[{position}]", spec, locator)
        _apply_enablement(result, tool, curation, position)
    return selected


def _policy_admits(policy: Policy, tool: Tool) -> bool:
    """Whether the egress policy lets the tool's request out (method, and the host of a per-operation server)."""
    if tool.http is None:
        return True
    if policy.allowed_methods and tool.http.method.upper() not in {m.upper() for m in policy.allowed_methods}:
        return False
    if tool.http.server_url and policy.allowed_hosts:
        host = urlsplit(re.sub(r"\{[^{}]+\}", "x", tool.http.server_url)).hostname or ""
        return any(_host_matches(pattern, host) for pattern in policy.allowed_hosts)
    return True


def _not_found(operation: str, tools: list[Tool]) -> str:
    # Suggest up to three different operations, each by the closest of its refs (operationId, METHOD /path, name).
    owner: dict[str, int] = {}
    for index, tool in enumerate(tools):
        for ref in (tool.source_ref, _method_path(tool), tool.name):
            if ref:
                owner.setdefault(ref, index)
    suggestions: dict[int, str] = {}
    for ref in difflib.get_close_matches(operation, list(owner), n=20, cutoff=0.6):
        suggestions.setdefault(owner[ref], ref)
    hint = did_you_mean(operation, list(suggestions.values())[:3], n=3)
    if not hint:
        examples = ", ".join(f"'{t.source_ref or _method_path(t) or t.name}'" for t in tools[:3])
        hint = f"; give an operationId or 'METHOD /path' of the source (it has {len(tools)}, e.g. {examples})"
    return f"'{operation}' not found in source{hint}"


def _is_destructive(tool: Tool) -> bool:
    hint = tool.annotations.destructive_hint
    if hint is not None:
        return hint
    return tool.http is not None and tool.http.method.upper() == "DELETE"


def _apply_enablement(result: Integration, tool: Tool, entry: ToolSpec | None, spec_index: int | None) -> None:
    if entry is not None and entry.enabled is not None:
        tool.enabled = entry.enabled
    elif _is_destructive(tool):
        tool.enabled = False
        if entry is not None:
            result.warnings.append(
                f"tool '{tool.name}' is destructive and stays disabled; "
                f"set enabled: true in tools[{spec_index}] to compile it enabled"
            )


def _curate_tool(tool: Tool, entry: ToolSpec, field: str, spec: HubSpec, locator: Locator) -> None:
    if entry.name is not None:
        tool.name = entry.name
    if entry.description is not None:
        tool.description = entry.description
    if entry.title is not None:
        tool.title = entry.title
        if tool.annotations.title is not None:
            tool.annotations.title = entry.title
    if entry.annotations is not None:
        _annotate(tool.annotations, entry.annotations)
    schema = tool.input_schema
    properties: dict[str, Any] = schema.setdefault("properties", {})
    required: list[str] = schema.get("required", [])

    def check_arg(arg: str, arg_field: str, extra: str = "") -> dict[str, Any]:
        if arg not in properties:
            listed = ", ".join(properties) or "none"
            raise locator.error(
                arg_field,
                f"'{arg}' is not an argument of '{entry.operation}'{did_you_mean(arg, properties)} "
                f"(its arguments: {listed}){extra}",
            )
        prop: dict[str, Any] = properties[arg]
        return prop

    for arg, value in entry.defaults.items():
        prop = check_arg(arg, f"{field}.defaults.{arg}")
        _check_value(value, prop, schema, f"{field}.defaults.{arg}", locator)
        prop["default"] = copy.deepcopy(value)
        # Applied, not only advertised: the runtime sends it when the caller leaves the argument out.
        tool.defaults[arg] = copy.deepcopy(value)
    for arg, value in entry.fixed.items():
        arg_field = f"{field}.fixed.{arg}"
        if tool.http is None:
            raise locator.error(
                arg_field, f"can't be fixed: '{entry.operation}' is not an HTTP operation; use defaults: instead"
            )
        location, colon, wire = arg.partition(":")
        if colon and location in FIXED_LOCATIONS and arg not in properties:
            # A value the source doesn't declare, e.g. header:Accept; nothing to remove from the schema.
            tool.http.fixed.setdefault(ArgLocation(location), {})[wire.strip()] = copy.deepcopy(value)
            continue
        prop = check_arg(arg, arg_field, "; to send a value the source doesn't declare, write header:<Name>")
        binding = next((b for b in tool.http.args if b.name == arg), None)
        if binding is None:
            raise locator.error(arg_field, f"can't be fixed: '{entry.operation}' sends no request argument '{arg}'")
        _check_value(value, prop, schema, arg_field, locator)
        tool.http.fixed.setdefault(ArgLocation(binding.location), {})[binding.wire_name] = copy.deepcopy(value)
        _remove_arg(tool, arg)
    for index, arg in enumerate(entry.hide):
        arg_field = f"{field}.hide[{index}]"
        check_arg(arg, arg_field)
        if arg in required:
            raise locator.error(
                arg_field,
                f"'{arg}' is a required argument, so it can't be hidden; give it a value with fixed: {{{arg}: ...}}",
            )
        _remove_arg(tool, arg)
    if entry.input is not None:
        _transform_input(tool, entry.input, f"{field}.input", entry, locator)
    if entry.response is not None:
        _shape_response(tool, entry.response, f"{field}.response", entry, spec, locator)


def _transform_input(tool: Tool, given: InputSpec, field: str, entry: ToolSpec, locator: Locator) -> None:
    """Swap the body fields the transform builds for its friendly arguments (bound as body fields it reads)."""
    if tool.http is None or tool.http.body_encoding not in (None, "json", "multipart"):
        raise locator.error(field, f"'{entry.operation}' takes no body for transform '{given.transform}' to build")
    info = INPUT_TRANSFORMS[given.transform]
    # JSON fields, or parts of a multipart body (which the transform then encodes itself, e.g. multipart/related).
    located = (ArgLocation.BODY, ArgLocation.MULTIPART)
    body = {arg.wire_name: arg for arg in tool.http.args if arg.location in located}
    for written in [given.into] if given.into else info["writes"]:
        if written not in body:
            listed = ", ".join(body) or "none"
            hint = did_you_mean(written, body)
            if given.into:
                field_name = f"{field}.into"
                message = f"'{written}' is not a body field of '{entry.operation}'{hint} (its body fields: {listed})"
            else:
                field_name = f"{field}.transform"
                message = (
                    f"'{given.transform}' builds the body field '{written}', which '{entry.operation}' does not "
                    f"have{hint} (its body fields: {listed}); to send what it builds as one field, name it with into:"
                )
            raise locator.error(field_name, message)
        _remove_arg(tool, body[written].name)
    properties: dict[str, Any] = tool.input_schema.setdefault("properties", {})
    for name, schema in info["arguments"].items():
        if name in properties:
            raise locator.error(
                f"{field}.transform",
                f"'{given.transform}' takes an argument '{name}', which '{entry.operation}' already has; "
                f"hide it (hide: [{name}]) or fix it (fixed: {{{name}: ...}})",
            )
        properties[name] = copy.deepcopy(schema)
        tool.http.args.append(ArgBinding(name=name, python_name=name, location=ArgLocation.BODY, wire_name=name))
    for name, description in info.get("describes", {}).items():
        if isinstance(properties.get(name), dict):
            properties[name]["description"] = description
    required = [name for name in info["required"] if name not in tool.input_schema.get("required", [])]
    if required:
        tool.input_schema["required"] = [*tool.input_schema.get("required", []), *required]
    tool.input = InputShape(transform=given.transform, arguments=list(info["arguments"]), into=given.into)


_KEPT_LISTED = 12  # kept paths named in the full-response argument's description


def _shape_response(
    tool: Tool, response: ResponseSpec, field: str, entry: ToolSpec, spec: HubSpec, locator: Locator
) -> None:
    """Record the response shape and add the boolean argument that asks for the untouched answer."""
    if tool.http is None:
        raise locator.error(
            field, f"'{entry.operation}' is not an HTTP operation; GraphQL tools choose what comes back with selection:"
        )
    properties: dict[str, Any] = tool.input_schema.setdefault("properties", {})
    name = response.full_argument
    if name in properties:
        raise locator.error(
            f"{field}.full_argument",
            f"'{name}' is already an argument of '{entry.operation}'; choose another full_argument: name",
        )
    tool.response = ResponseShape(
        transform=response.transform, keep=list(response.keep), items=response.items, full_argument=name
    )
    shown = []
    if response.transform is not None:
        shown.append(RESPONSE_TRANSFORMS[response.transform])
    if response.keep:
        listed = ", ".join(response.keep[:_KEPT_LISTED])
        if len(response.keep) > _KEPT_LISTED:
            listed += f" and {len(response.keep) - _KEPT_LISTED} more"
        where = f" of each of `{response.items}`" if response.items else ""
        shown.append(f"only the fields {listed}{where}")
    properties[name] = {
        "type": "boolean",
        "default": False,
        "description": f"The answer holds {'; '.join(shown)}. Pass true for the whole answer as the API sends it.",
    }


def _annotate(annotations: ToolAnnotations, given: ToolAnnotationsSpec) -> None:
    for spec_name, ir_name in (
        ("read_only", "read_only_hint"),
        ("destructive", "destructive_hint"),
        ("idempotent", "idempotent_hint"),
        ("open_world", "open_world_hint"),
    ):
        value = getattr(given, spec_name)
        if value is not None:
            setattr(annotations, ir_name, value)


def _remove_arg(tool: Tool, arg: str) -> None:
    schema = tool.input_schema
    schema.get("properties", {}).pop(arg, None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name != arg]
        if not schema["required"]:
            del schema["required"]
    if "dependentRequired" in schema:  # an optional body's fields (the parser's `_body_dependencies`)
        # A fixed argument is always sent, so nothing depends on it any more.
        remaining = {
            name: [other for other in others if other != arg]
            for name, others in schema["dependentRequired"].items()
            if name != arg
        }
        schema["dependentRequired"] = {name: others for name, others in remaining.items() if others}
        if not schema["dependentRequired"]:
            del schema["dependentRequired"]
    if tool.http is not None:
        tool.http.args = [binding for binding in tool.http.args if binding.name != arg]
        # A fixed argument is always sent (the body is never empty); a hidden one cannot be the one given.
        tool.http.body_needs_one_of = [name for name in tool.http.body_needs_one_of if name != arg]
    if tool.graphql is not None:
        tool.graphql.variables.pop(arg, None)
    tool.defaults.pop(arg, None)
    if "$defs" in schema:
        _prune_defs(schema)


def _prune_defs(schema: dict[str, Any]) -> None:
    """Drop the `$defs` entries no remaining property refers to (directly or through other entries)."""
    defs: dict[str, Any] = schema["$defs"]
    used: set[str] = set()
    pending: list[Any] = [schema.get("properties", {})]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref[len("#/$defs/") :]
                if name in defs and name not in used:
                    used.add(name)
                    pending.append(defs[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    schema["$defs"] = {name: value for name, value in defs.items() if name in used}
    if not schema["$defs"]:
        del schema["$defs"]


def _check_value(value: Any, prop: dict[str, Any], root: dict[str, Any], field: str, locator: Locator) -> None:
    """Refuse a default/fixed value the argument's own schema rejects (e.g. a string for an integer)."""
    schema = dict(prop)
    if "$defs" in root:
        schema["$defs"] = root["$defs"]
    try:
        validator = jsonschema.Draft202012Validator(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except (jsonschema.exceptions.SchemaError, referencing.exceptions.Unresolvable):
        return  # a schema we can't evaluate is the schema stage's to report, not the spec's
    if error is not None:
        raise locator.error(field, f"{value!r} is not a valid value for the argument: {error.message}")


def _check_names(selected: list[tuple[Tool, int | None]], spec: HubSpec, locator: Locator) -> None:
    """Every final name is unique and `<slug>__<name>` fits max_name_length."""
    seen: dict[str, Tool] = {}
    limit = spec.max_name_length
    for tool, spec_index in selected:
        entry = None if spec_index is None else (spec.tools or [])[spec_index]
        other = seen.get(tool.name)
        if entry is None:
            # Not listed: cite what kept it (include: all, or no tools: at all) and show the entry to add.
            field = "include" if spec.include else "search" if spec.search else "slug"
            subject = f"'{spec.include or spec.search or spec.slug}' gives tool '{tool.name}' (from '{_ref(tool)}'),"
            fix = f"list it under tools: with a shorter name: (- {{operation: '{_ref(tool)}', name: ...}})"
            clash = "give one of them another name: under tools:"
        elif entry.name is not None:
            field, subject, fix = f"tools[{spec_index}].name", f"'{tool.name}'", "choose a shorter name"
            clash = "choose another name"
        else:
            field = f"tools[{spec_index}].operation"
            subject = f"'{entry.operation}' keeps its source name '{tool.name}',"
            fix = "add a shorter name: to this entry"
            clash = "add another name: to this entry"
        full = f"{spec.slug}__{tool.name}"
        if len(full) > limit:
            raise locator.error(
                field,
                f"{subject} {'making' if subject.endswith(',') else 'makes'} the full name '{full}' {len(full)} "
                f"characters, over max_name_length {limit}; {fix} (at most {limit - len(spec.slug) - 2} characters)",
            )
        if other is not None:
            raise locator.error(
                field,
                f"{subject} {'but that name is already taken by' if subject.endswith(',') else 'is already the name of'} "
                f"the tool for '{_ref(other)}'; tool names must be unique, so {clash}",
            )
        seen[tool.name] = tool


def _ref(tool: Tool) -> str:
    return tool.source_ref or _method_path(tool) or tool.name
