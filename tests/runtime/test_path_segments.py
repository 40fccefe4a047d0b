"""No argument value can move a request outside its own path segment (issue 11 #1), for every built-in tool."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcphub.compiler.ir import ArgLocation, Integration, Tool
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential

GENERATED = Path(__file__).resolve().parents[2] / "generated"
_VARIABLE = re.compile(r"\{([^{}]+)\}")


def _builtin_http_tools() -> list[tuple[Integration, Tool]]:
    found = []
    for manifest in sorted(GENERATED.glob("*/manifest.json")):
        integration = Integration.from_manifest(manifest.read_bytes())
        found.extend((integration, tool) for tool in integration.tools if tool.http and "{" in tool.http.path)
    return found


TOOLS = _builtin_http_tools()
CLIENTS: dict[str, UpstreamClient] = {}

# Values made to break out: dot segments, separators, encoded separators, and anything else.
HOSTILE = st.one_of(
    st.sampled_from([".", "..", "/", "../..", "%2E%2E", "%2F", "?", "#", "a/../b", ";", "\\", "..;"]),
    st.lists(st.sampled_from([".", "/", "%", "?", "#", "\\", "a"]), min_size=1, max_size=6).map("".join),
    st.text(min_size=1, max_size=8),
    st.lists(st.sampled_from([".", ".."]), min_size=1, max_size=3),
)


def _client(integration: Integration) -> UpstreamClient:
    if integration.slug not in CLIENTS:
        CLIENTS[integration.slug] = UpstreamClient(integration)
    return CLIENTS[integration.slug]


def test_every_builtin_path_template_is_covered() -> None:
    assert len(TOOLS) > 100  # the property below runs over real templates, not an empty list
    assert {i.slug for i, _ in TOOLS} >= {"github", "jira", "stripe", "gmail", "notion"}


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_no_argument_value_leaves_its_own_segment(data: st.DataObject) -> None:
    integration, tool = data.draw(st.sampled_from(TOOLS))
    assert tool.http is not None
    names = _VARIABLE.findall(tool.http.path)
    values: dict[str, Any] = {name: data.draw(HOSTILE, label=name) for name in names}
    client = _client(integration)
    credential = Credential(token="t", api_key="k", username="u", password="p")
    prepared = client.prepare(
        tool, credential, path=values, query=None, headers=None, cookies=None, body=None, form=None, multipart=None
    )
    base = client.requests._server_url(tool.http, credential, client.requests._security(tool.http, credential))
    assert prepared.url.startswith(base)
    sent = urlsplit(prepared.url[len(base) :]).path
    template = tool.http.path.split("/")
    segments = sent.split("/")
    assert len(segments) == len(template), (tool.http.path, values, sent)
    for literal, segment in zip(template, segments, strict=True):
        if "{" not in literal:
            assert segment == literal
        else:
            assert segment not in (".", ".."), (tool.http.path, values, sent)
            assert not set(segment) & set("?#/"), (tool.http.path, values, sent)


def test_values_are_recorded_by_location() -> None:
    # Every path variable of the built-ins is bound as a path argument, so the property above exercises them all.
    for _, tool in TOOLS:
        assert tool.http is not None
        bound = {a.wire_name for a in tool.http.args if a.location is ArgLocation.PATH} | set(
            tool.http.fixed.get(ArgLocation.PATH, {})
        )
        assert set(_VARIABLE.findall(tool.http.path)) <= bound, json.dumps(tool.http.path)
