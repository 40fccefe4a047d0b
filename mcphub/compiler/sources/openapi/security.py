"""Security: the description's security schemes as auth schemes, and security requirements as alternatives of
scheme ids (collecting the scopes each scheme is asked for)."""

from __future__ import annotations

from typing import Any

from mcphub.compiler.ir import AuthScheme, OAuthFlow
from mcphub.compiler.naming import looks_like_credential
from mcphub.compiler.sources.openapi.common import Context, as_mapping, text_of, trim


class Security:
    """The auth schemes found so far, the scopes asked of each, and the parameters that carry an API key."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.schemes: dict[str, AuthScheme] = {}
        self.scheme_scopes: dict[str, set[str]] = {}
        # (location, lower-case name) of apiKey schemes: such parameters are the credential, never an argument.
        self.api_key_params: set[tuple[str, str]] = set()
        self.declared = False  # whether the description has security schemes of its own

    def read_schemes(self) -> None:
        if self.ctx.dialect == "swagger2":
            raw = self.ctx.document.get("securityDefinitions")
        else:
            components = self.ctx.document.get("components")
            raw = components.get("securitySchemes") if isinstance(components, dict) else None
        if not isinstance(raw, dict):
            return
        self.declared = bool(raw)
        for scheme_id, value in raw.items():
            scheme = self.ctx.normalizer.deref(value)
            if not isinstance(scheme, dict):
                continue
            converted = self._scheme(str(scheme_id), scheme)
            if converted is not None:
                self.schemes[str(scheme_id)] = converted

    def _scheme(self, scheme_id: str, scheme: dict[str, Any]) -> AuthScheme | None:
        kind = scheme.get("type")
        description = trim(text_of(scheme.get("description")), 500)
        where = f"security scheme {scheme_id!r}"
        if kind == "apiKey":
            location = scheme.get("in")
            param = text_of(scheme.get("name"))
            if location not in ("header", "query", "cookie") or not param:
                self.ctx.warn(where, "apiKey without a valid 'in'/'name'; skipped")
                return None
            self.api_key_params.add((str(location), param.lower()))
            return AuthScheme(
                id=scheme_id,
                type="api_key",
                label=f"API key ({param} {location})",
                description=description,
                location=location,
                param_name=param,
            )
        if kind == "basic" or (kind == "http" and text_of(scheme.get("scheme")).lower() == "basic"):
            return AuthScheme(id=scheme_id, type="basic", label="Username and password", description=description)
        if kind == "http":
            http_scheme = text_of(scheme.get("scheme")).lower()
            if http_scheme != "bearer":
                self.ctx.warn(where, f"HTTP auth scheme {http_scheme!r} is not supported; skipped")
                return None
            return AuthScheme(
                id=scheme_id,
                type="bearer",
                label="Bearer token",
                description=description,
                bearer_format=text_of(scheme.get("bearerFormat")) or None,
            )
        if kind == "oauth2":
            flows = self._flows(scheme)
            if not flows:
                self.ctx.warn(where, "OAuth2 scheme without a usable flow; skipped")
                return None
            return AuthScheme(id=scheme_id, type="oauth2", label="OAuth 2.0", description=description, flows=flows)
        if kind == "openIdConnect":
            return AuthScheme(
                id=scheme_id,
                type="openid_connect",
                label="OpenID Connect",
                description=description,
                openid_connect_url=text_of(scheme.get("openIdConnectUrl")) or None,
            )
        self.ctx.warn(where, f"security scheme type {kind!r} is not supported; skipped")
        return None

    def _flows(self, scheme: dict[str, Any]) -> list[OAuthFlow]:
        if self.ctx.dialect == "swagger2":
            kinds = {"accessCode": "authorization_code", "implicit": "implicit", "password": "password"}
            kinds["application"] = "client_credentials"
            raw_flows: dict[str, Any] = {str(scheme.get("flow")): scheme}
        else:
            kinds = {
                "authorizationCode": "authorization_code",
                "clientCredentials": "client_credentials",
                "implicit": "implicit",
                "password": "password",
                "deviceAuthorization": "device_code",
            }
            raw_flows = as_mapping(scheme.get("flows"))
        flows = []
        for flow_name, flow in raw_flows.items():
            kind = kinds.get(str(flow_name))
            if kind is None or not isinstance(flow, dict):
                continue
            scopes = as_mapping(flow.get("scopes"))
            flows.append(
                OAuthFlow(
                    kind=kind,
                    authorization_url=text_of(flow.get("authorizationUrl")) or None,
                    token_url=text_of(flow.get("tokenUrl")) or None,
                    refresh_url=text_of(flow.get("refreshUrl")) or None,
                    scopes={str(k): str(v) if v is not None else "" for k, v in scopes.items()},
                )
            )
        return flows

    def requirements(self, value: Any, where: str) -> list[list[str]] | None:
        """Security requirements → alternatives of scheme ids (None when absent)."""
        if value is None:
            return None
        if not isinstance(value, list):
            self.ctx.warn(where, "'security' is not a list; ignored")
            return None
        alternatives: list[list[str]] = []
        for requirement in value:
            if not isinstance(requirement, dict):
                continue
            ids = []
            usable = True
            for scheme_id, scopes in requirement.items():
                if scheme_id not in self.schemes:
                    self.ctx.warn(where, f"security requirement names unknown or unsupported scheme {scheme_id!r}")
                    usable = False
                    break
                ids.append(str(scheme_id))
                if isinstance(scopes, list):
                    self.scheme_scopes.setdefault(str(scheme_id), set()).update(str(s) for s in scopes)
            if usable and ids not in alternatives:
                alternatives.append(ids)
        if value and not alternatives:
            # Every alternative needs an unsupported scheme: "no auth" ([]) would be wrong, so defer to the default.
            self.ctx.warn(where, "no usable security requirement; the integration's default applies")
            return None
        return alternatives

    def auth_schemes(self) -> list[AuthScheme]:
        """The schemes, each with the scopes the requirements asked of it."""
        for scheme_id, scopes in self.scheme_scopes.items():
            if scheme_id in self.schemes and scopes:
                self.schemes[scheme_id].scopes = sorted(scopes)
        return list(self.schemes.values())

    def sends_authorization(self) -> bool:
        """Whether a declared scheme puts its credential in the Authorization header."""
        return any(
            scheme.type != "api_key"
            or (scheme.location == "header" and (scheme.param_name or "").lower() == "authorization")
            for scheme in self.schemes.values()
        )

    def authorization_parameter(self) -> None:
        """A required-looking `Authorization` header declared as a parameter, with no security scheme declared (GoTo,
        Azure LUIS): the runtime sends the user's credential as that header's whole value (an api_key scheme)."""
        key = ("header", "authorization")
        if self.declared or key in self.api_key_params:
            return
        self.api_key_params.add(key)
        self.schemes["Authorization"] = AuthScheme(
            id="Authorization",
            type="api_key",
            label="Authorization header",
            description="Declared by the API description as the header parameter 'Authorization' (the whole value, "
            "e.g. 'Bearer <token>').",
            location="header",
            param_name="Authorization",
        )
        self.ctx.warn(
            "document",
            "header parameter 'Authorization' is declared and no security scheme is: it is an api_key auth scheme "
            "now (the runtime sends the user's credential as the whole header value), not a tool argument",
        )

    def is_credential(self, location: str, name: str) -> bool:
        """Whether the parameter `name` in `location` is the credential (the runtime sends it, no tool argument).

        Some descriptions declare their API key as an ordinary parameter instead of a security scheme (Listen
        Notes' `X-ListenAPI-Key` header): left alone, every tool would ask the agent for the key. When the
        description declares no security scheme at all, such a parameter becomes an api_key scheme; when it
        declares others, it stays an argument (the augment stage's lint says how a hub spec makes it the
        credential, once curation has had its say).
        """
        key = (location, name.lower())
        if key in self.api_key_params:
            return True
        if location not in ("header", "query") or self.declared or not looks_like_credential(name):
            return False
        self.api_key_params.add(key)
        self.schemes[name] = AuthScheme(
            id=name,
            type="api_key",
            label=f"API key ({name} {location})",
            description=f"Declared by the API description as the {location} parameter {name!r}.",
            location="header" if location == "header" else "query",
            param_name=name,
        )
        self.ctx.warn(
            "document",
            f"{location} parameter {name!r} looks like a credential and the description declares no security "
            "scheme: it is an api_key auth scheme now (the runtime sends the user's key), not a tool argument",
        )
        return True
