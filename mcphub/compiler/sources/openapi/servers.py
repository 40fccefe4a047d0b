"""Servers: the base URL from `servers` (3.x) or `host`/`basePath` (2.0), server variables, placeholder hosts,
and per-operation server overrides."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from mcphub.compiler.ir import ServerVariable
from mcphub.compiler.naming import snake_case
from mcphub.compiler.sources.openapi.common import Context, Operation, text_of

_PLACEHOLDER_LABEL = re.compile(r"^your[-_]?([a-z0-9][a-z0-9_-]*)$", re.I)


class Servers:
    """The integration's base URL and the server variables it and the operations' servers use."""

    def __init__(self, ctx: Context, *, overridden: bool = False) -> None:
        self.ctx = ctx
        self.variables: dict[str, ServerVariable] = {}
        self.overridden = overridden  # the hub spec sets base_url: the description's own servers are moot

    def base_url(self) -> str:
        """The description's base URL ('' when it has none; a warning says so unless the spec sets its own)."""
        before = len(self.ctx.warnings)
        url = self._document_base_url()
        if self.overridden:
            del self.ctx.warnings[before:]
        return url

    def _document_base_url(self) -> str:
        if self.ctx.dialect == "swagger2":
            host = text_of(self.ctx.document.get("host"))
            base_path = text_of(self.ctx.document.get("basePath")) or ""
            schemes = self.ctx.document.get("schemes") or []
            scheme = "https" if "https" in schemes or not schemes else str(schemes[0])
            if not host:
                self.ctx.warn("document", "no 'host': base URL is relative; set base_url in the hub spec")
                return base_path.rstrip("/")
            return self._placeholders(f"{scheme}://{host}{base_path}".rstrip("/"))
        servers = self.ctx.document.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            self.ctx.warn("document", "no 'servers': base URL unknown; set base_url in the hub spec")
            return ""
        return self.server_url(servers[0], "servers[0]")

    def server_url(self, server: dict[str, Any], where: str) -> str:
        url = text_of(server.get("url")).rstrip("/")
        variables = server.get("variables")
        if isinstance(variables, dict):
            for var_name, var in variables.items():
                if not isinstance(var, dict):
                    continue
                enum = var.get("enum")
                new = ServerVariable(
                    default=str(var.get("default", "")),
                    enum=[str(e) for e in enum] if isinstance(enum, list) and enum else None,
                    description=text_of(var.get("description")),
                )
                old = self.variables.get(var_name)
                if old is not None and old.default != new.default:
                    self.ctx.warn(where, f"server variable {var_name!r} redefined with another default; kept the first")
                    continue
                self.variables.setdefault(var_name, new)
        if url.startswith("//"):  # scheme-relative: the API is reached over HTTPS
            url = "https:" + url
        if url and not urlsplit(url).scheme:
            self.ctx.warn(where, f"server URL {url!r} is relative; set base_url in the hub spec")
        return self._placeholders(url)

    def _placeholders(self, url: str) -> str:
        """Turn a placeholder host label ("your-domain.atlassian.net") into a server variable."""
        parts = urlsplit(url)
        if not parts.hostname:
            return url
        labels = parts.netloc.split(".")
        changed = False
        for i, label in enumerate(labels):
            match = _PLACEHOLDER_LABEL.match(label)
            if match and "{" not in label:
                var = snake_case(match.group(1)) or "host"
                self.variables.setdefault(
                    var,
                    ServerVariable(
                        default=label,
                        description=f"Placeholder `{label}` in the published server URL: set it to your own value.",
                    ),
                )
                labels[i] = "{" + var + "}"
                changed = True
        if not changed:
            return url
        self.ctx.warn("servers", f"server URL {url!r} has a placeholder host; it is now the server variable(s) shown")
        return url.replace(parts.netloc, ".".join(labels), 1)

    def operation_server(self, o: Operation, base_url: str) -> str | None:
        if self.ctx.dialect == "swagger2":
            return None
        for holder in (o.op, o.item):
            servers = holder.get("servers")
            if isinstance(servers, list) and servers and isinstance(servers[0], dict):
                url = self.server_url(servers[0], o.where)
                return url if url != base_url else None
        return None
