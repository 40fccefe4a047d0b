"""Responses: the documented success media type, and one sentence on what the tool returns."""

from __future__ import annotations

import re
from typing import Any

from mcphub.compiler.sources.openapi.common import Context, Operation, pick_media_type, text_of, trim

_GENERIC_RESPONSE = re.compile(
    r"^(response|ok|success|successful( response| operation)?|\d{3}( response)?|default response)\.?$", re.I
)


class Responses:
    """What an operation returns, for the binding and the tool description."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def read(self, o: Operation) -> tuple[str | None, str]:
        responses = o.op.get("responses")
        if not isinstance(responses, dict):
            return None, ""
        codes = sorted((str(c) for c in responses if str(c).startswith("2")), key=lambda c: (not c.isdigit(), c))
        if "default" in responses and not codes:
            codes = ["default"]
        for code in codes:
            response = self.ctx.normalizer.deref(responses.get(code) if code in responses else responses.get(int(code)))
            if not isinstance(response, dict):
                continue
            description = text_of(response.get("description"))
            if self.ctx.dialect == "swagger2":
                produces = o.op.get("produces") or self.ctx.document.get("produces") or []
                schema = response.get("schema")
                media_type = None
                if schema is not None:
                    media_type = pick_media_type([str(p) for p in produces]) if produces else "application/json"
            else:
                content = response.get("content")
                if not isinstance(content, dict) or not content:
                    return None, self._returns(description, None, code)
                media_type = pick_media_type(list(content))
                media = content[media_type]
                schema = media.get("schema") if isinstance(media, dict) else None
            return media_type, self._returns(description, schema, code)
        return None, ""

    def _returns(self, description: str, schema: Any, code: str) -> str:
        if code == "204" and schema is None:
            return "Returns no content on success."
        label = self._schema_label(schema)
        meaningful = description and not _GENERIC_RESPONSE.match(description)
        if label and meaningful:
            return f"Returns {label}: {trim(description, 300).rstrip('.')}."
        if label:
            return f"Returns {label}."
        if meaningful:
            return f"Returns: {trim(description, 300)}"
        return ""

    def _schema_label(self, schema: Any, depth: int = 0) -> str:
        if not isinstance(schema, dict) or depth > 2:
            return ""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
            target = self.ctx.normalizer.deref(schema)
            if isinstance(target, dict) and target.get("type") == "array":
                inner = self._schema_label(target.get("items"), depth + 1)
                return f"a list of {inner}" if inner else f"`{name}` (a list)"
            if not name or name[:1].isdigit():
                return "an object"
            return f"{'an' if name[0].lower() in 'aeiou' else 'a'} `{name}` object"
        if schema.get("type") == "array":
            inner = self._schema_label(schema.get("items"), depth + 1)
            return f"a list of {inner.removeprefix('a ').removeprefix('an ')}s" if inner else "a list"
        props = schema.get("properties")
        if isinstance(props, dict) and props:
            names = list(props)[:6]
            more = ", …" if len(props) > 6 else ""
            return "an object with " + ", ".join(f"`{n}`" for n in names) + more
        return ""
