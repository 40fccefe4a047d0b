"""Request bodies: JSON objects (one argument per property), forms and multipart (file parts base64-encoded),
whole non-object bodies as one `body` argument; Swagger 2.0's `in: body` and `formData` parameters alike."""

from __future__ import annotations

from typing import Any, Literal

from mcphub.compiler.ir import ArgLocation, HttpBinding, JsonSchema
from mcphub.compiler.schemas import Normalized
from mcphub.compiler.sources.openapi.common import (
    Arg,
    Context,
    Operation,
    as_list,
    as_mapping,
    is_json,
    pick_media_type,
    swagger_param_schema,
    text_of,
    types_of,
    with_description,
)
from mcphub.compiler.sources.openapi.parameters import collection_format
from mcphub.compiler.sources.openapi.xml import is_xml, xml_shape


class Bodies:
    """An operation's request body as arguments and the binding's body encoding."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def read(self, o: Operation, http: HttpBinding) -> None:
        if self.ctx.dialect == "swagger2":
            self._swagger_body(o, http)
        else:
            self._request_body(o, http)

    def _request_body(self, o: Operation, http: HttpBinding) -> None:
        raw = o.op.get("requestBody")
        if raw is None:
            return
        body = self.ctx.normalizer.deref(raw)
        if not isinstance(body, dict):
            self.ctx.warn(o.where, "requestBody is not a mapping; ignored")
            return
        content = body.get("content")
        if not isinstance(content, dict) or not content:
            self.ctx.warn(o.where, "requestBody has no content; ignored")
            return
        media_type = pick_media_type(list(content))
        media = as_mapping(content[media_type])
        normal = self.ctx.normalizer.normalize(media.get("schema", {}))
        required = body.get("required") is True
        http.body_required = required
        encoding = as_mapping(media.get("encoding"))
        base = media_type.split(";")[0].strip().lower()
        if base == "application/x-www-form-urlencoded":
            self._object_body(o, http, normal, required, "form", ArgLocation.FORM, encoding, body)
        elif base.startswith("multipart/"):
            self._object_body(o, http, normal, required, "multipart", ArgLocation.MULTIPART, encoding, body)
        elif is_json(base) or (base == "*/*" and types_of(normal.schema) in (None, ["object"], ["array"])):
            if is_json(base) and base != "application/json" and "*" not in base:
                http.body_content_type = media_type  # Kubernetes' merge-patch+json, JSON:API's vnd.api+json
            self._object_body(o, http, normal, required, "json", ArgLocation.BODY, encoding, body)
        elif (base == "application/octet-stream" or base.startswith("message/")) and self.ctx.normalizer.object_shape(
            normal
        ) is not None:
            # Google's Discovery conversions label metadata bodies of media-upload methods with these media types;
            # the services take the object as JSON at these paths.
            self._object_body(o, http, normal, required, "json", ArgLocation.BODY, encoding, body)
        else:
            self._raw_body(o, http, normal, required, media_type, text_of(body.get("description")), media.get("schema"))

    def _swagger_body(self, o: Operation, http: HttpBinding) -> None:
        params = [
            self.ctx.normalizer.deref(p) for p in (*as_list(o.item.get("parameters")), *as_list(o.op.get("parameters")))
        ]
        consumes = o.op.get("consumes") or self.ctx.document.get("consumes") or []
        consumes = [str(c).lower() for c in consumes] if isinstance(consumes, list) else []
        body_params = [p for p in params if isinstance(p, dict) and p.get("in") == "body"]
        form_params: dict[str, dict[str, Any]] = {}
        for p in params:
            if isinstance(p, dict) and p.get("in") == "formData" and isinstance(p.get("name"), str):
                form_params[p["name"]] = p
        if body_params:
            param = body_params[-1]
            normal = self.ctx.normalizer.normalize(param.get("schema", {}))
            required = param.get("required") is True
            http.body_required = required
            json_ok = not consumes or any(is_json(c) or c == "*/*" for c in consumes)
            if json_ok:
                self._object_body(o, http, normal, required, "json", ArgLocation.BODY, {}, param)
            else:
                self._raw_body(
                    o, http, normal, required, consumes[0], text_of(param.get("description")), param.get("schema")
                )
        elif form_params:
            has_file = any(p.get("type") == "file" for p in form_params.values())
            multipart = has_file or (
                any(c.startswith("multipart/") for c in consumes)
                and "application/x-www-form-urlencoded" not in consumes
            )
            http.body_encoding = "multipart" if multipart else "form"
            location = ArgLocation.MULTIPART if multipart else ArgLocation.FORM
            http.body_required = any(p.get("required") is True for p in form_params.values())
            for wire_name, p in form_params.items():
                normal = self.ctx.normalizer.normalize(swagger_param_schema(p))
                o.deps.update(normal.deps)
                schema = with_description(normal.schema, text_of(p.get("description")))
                if p.get("required") is True and types_of(schema) == ["array"] and not schema.get("minItems"):
                    # An empty list puts no field in the form, so the required field would be missing.
                    schema = {**schema, "minItems": 1}
                arg = Arg(location, wire_name, schema, p.get("required") is True, "body")
                arg.style, arg.explode = collection_format(p, "formData")
                if multipart:
                    self._file_part(arg, {})
                o.args.append(arg)

    def _object_body(
        self,
        o: Operation,
        http: HttpBinding,
        normal: Normalized,
        required: bool,
        encoding_kind: Literal["json", "form", "multipart"],
        location: ArgLocation,
        encoding: dict[str, Any],
        holder: dict[str, Any],
    ) -> None:
        http.body_encoding = encoding_kind
        shape = self.ctx.normalizer.object_shape(normal)
        if shape is None:
            o.deps.update(normal.deps)
            description = text_of(holder.get("description")) or text_of(normal.schema.get("description"))
            union = "oneOf" if "oneOf" in normal.schema else "anyOf" if "anyOf" in normal.schema else None
            if union is not None:
                # A union the flat argument list cannot state exactly (schemas.object_shape): the agent picks a shape.
                kind = "exactly one" if union == "oneOf" else "at least one"
                description = (
                    f"{description} The whole request body: an object matching {kind} of the shapes below.".strip()
                )
            schema = with_description(normal.schema, description)
            o.args.append(Arg(ArgLocation.BODY_ROOT, "", schema, required, "body"))
            return
        o.deps.update(shape.deps)
        if shape.description and shape.description != text_of(normal.schema.get("description")):
            o.notes.append(f"Request body: {shape.description}")
        required_props = set(shape.required) if required else set()
        minimum = normal.schema.get("minProperties")
        if required and not shape.required and isinstance(minimum, int) and not isinstance(minimum, bool):
            o.body_needs_one = minimum >= 1 and bool(shape.properties)
        for prop, schema in shape.properties.items():
            if (
                location is not ArgLocation.BODY
                and prop in required_props
                and types_of(schema) == ["array"]
                and not schema.get("minItems")
            ):
                # An empty list puts no field in a form (Stripe's `line_items`), so the required field would be missing.
                schema = {**schema, "minItems": 1}
            arg = Arg(location, prop, schema, prop in required_props, "body")
            arg.with_body = not required and prop in shape.required
            enc = encoding.get(prop) if isinstance(encoding.get(prop), dict) else None
            if enc is not None:
                if isinstance(enc.get("style"), str):
                    arg.style = enc["style"]
                if isinstance(enc.get("explode"), bool):
                    arg.explode = enc["explode"]
                if enc.get("allowReserved") is True:
                    arg.allow_reserved = True
            if location is ArgLocation.MULTIPART:
                self._file_part(arg, enc or {})
                if arg.content_type is None and enc is not None and text_of(enc.get("contentType")):
                    arg.content_type = text_of(enc["contentType"]).split(",")[0].strip()  # a typed part (JSON metadata)
            o.args.append(arg)

    @staticmethod
    def _file_part(arg: Arg, encoding: dict[str, Any]) -> None:
        schema = arg.schema
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        target = items if items is not None and types_of(schema) == ["array"] else schema
        if target.get("format") not in ("binary", "base64") and "contentMediaType" not in target:
            return
        file_schema: JsonSchema = {
            "type": "string",
            "format": "binary",
            "contentEncoding": "base64",
            "description": (text_of(target.get("description")) + " File content, base64-encoded.").strip(),
        }
        content_type = text_of(encoding.get("contentType")) or text_of(target.get("contentMediaType"))
        arg.content_type = content_type.split(",")[0].strip() if content_type else "application/octet-stream"
        if target is items:
            arg.schema = {**schema, "items": file_schema}
        else:
            arg.schema = {
                **file_schema,
                "description": (text_of(schema.get("description")) + " File content, base64-encoded.").strip(),
            }

    def _raw_body(
        self,
        o: Operation,
        http: HttpBinding,
        normal: Normalized,
        required: bool,
        media_type: str,
        description: str,
        source: Any = None,
    ) -> None:
        """One argument for the whole body; `source` (the description's schema) names an XML body's elements."""
        http.body_encoding = None
        schema = normal.schema
        binary = not media_type.startswith("text/") and (
            schema.get("format") in ("binary", "base64") or not schema or media_type == "application/octet-stream"
        )
        if binary:
            schema = {"type": "string", "contentEncoding": "base64", "format": "binary"}
            description = (description + f" Request body ({media_type}), base64-encoded.").strip()
        else:
            o.deps.update(normal.deps)
            if not schema or types_of(schema) == ["string"]:
                schema = {k: v for k, v in schema.items() if k != "format"} or {"type": "string"}
                description = (description + f" Request body ({media_type}).").strip()
        if required and types_of(schema) == ["string"] and not schema.get("minLength"):
            schema = {**schema, "minLength": 1}  # a required body of no bytes is no body (servers refuse it)
        xml = xml_shape(source, self.ctx.normalizer.deref) if is_xml(media_type) and not binary else None
        o.args.append(
            Arg(
                ArgLocation.BODY_ROOT,
                "",
                with_description(schema, description),
                required,
                "body",
                content_type=media_type,
                xml=xml,
            )
        )
