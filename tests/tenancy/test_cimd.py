"""Client ID Metadata Documents: the official SDK client identifies itself with an https URL instead of registering.

The client's metadata document is served over real TLS on 127.0.0.1 (a certificate made for the test, which
the hub's fetcher is told to trust; private addresses are allowed here as `MCPHUB_CIMD_ALLOW_PRIVATE=1`
allows them). The hub fetches it, checks it, caches it, shows its host on the consent page, and issues
tokens to it as to any public client. Unusable documents are refused with the reason.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from pydantic import AnyUrl
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mcphub.runtime.oauth.authserver import AuthServer, list_grants
from mcphub.runtime.oauth.cimd import ClientMetadataError, ClientMetadataFetcher, check_client_id_url
from mcphub.runtime.store.models import McpClient
from mcphub.runtime.tenancy.services import Tenancy

from .test_authserver import ISSUER, PASSWORD, REDIRECT, RESOURCE, Hub, MemoryStorage, _app, _browser_authorize, _pkce
from .test_authserver import _authorize_url as authorize_url
from .tls import self_signed, serve_https, trusting


@dataclass
class Documents:
    """What the client's web server answers per path: (status, headers, body)."""

    base: str = ""
    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def publish(self, path: str, document: dict[str, Any] | None = None, **options: Any) -> str:
        url = f"{self.base}{path}"
        body = json.dumps(document if document is not None else self.valid(url)).encode()
        headers = {"content-type": "application/json", **options.get("headers", {})}
        self.answers[path] = (options.get("status", 200), headers, options.get("body", body))
        return url

    @staticmethod
    def valid(url: str, **extra: Any) -> dict[str, Any]:
        return {
            "client_id": url,
            "client_name": "Metadata Agent",
            "client_uri": "https://agent.example",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            **extra,
        }

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        async def answer(request: Request) -> Response:
            self.hits.append(request.url.path)
            status, headers, body = self.answers.get(request.url.path, (404, {}, b"{}"))
            return Response(body, status_code=status, headers=headers)

        await Starlette(routes=[Route("/{path:path}", answer)])(scope, receive, send)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def documents(tls: tuple[Path, Path]) -> Iterator[Documents]:
    docs = Documents()
    with serve_https(docs.app, *tls) as base:
        docs.base = base
        yield docs


@pytest.fixture
async def cimd_hub(tenancy: Tenancy, tls: tuple[Path, Path]) -> AsyncIterator[Hub]:
    fetcher = ClientMetadataFetcher(allow_private=True, ssl_context=trusting(tls[0]))
    tenancy.authserver = AuthServer(tenancy.db, tenancy.vault, issuer=ISSUER, client_metadata=fetcher)
    user = await tenancy.accounts.create_user("ada@example.com", PASSWORD)
    state = Hub(tenancy, _app(tenancy), user)
    yield state
    for client in state.clients:
        await client.aclose()


async def test_sdk_client_connects_with_a_client_id_metadata_document(cimd_hub: Hub, documents: Documents) -> None:
    hub = cimd_hub
    documents.hits.clear()  # the document server is shared by the module's tests
    url = documents.publish("/agent/client.json", headers={"cache-control": "max-age=600"})
    asm = (await hub.client().get("/.well-known/oauth-authorization-server")).json()
    assert asm["client_id_metadata_document_supported"] is True
    assert asm["authorization_response_iss_parameter_supported"] is True

    captured: list[str] = []
    results: list[dict[str, str]] = []

    async def redirect_handler(authorization_url: str) -> None:
        captured.append(authorization_url)

    async def callback_handler() -> AuthorizationCodeResult:
        params = await _browser_authorize(hub, captured[-1])
        results.append(params)
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    provider = OAuthClientProvider(
        server_url=RESOURCE,
        client_metadata=OAuthClientMetadata(redirect_uris=[AnyUrl(REDIRECT)], client_name="Metadata Agent"),
        storage=MemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=url,
    )
    client = hub.client(auth=provider)
    response = await client.post("/mcp", json={})
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == hub.user.id and response.json()["key_name"] == "oauth:Metadata Agent"

    # The SDK used the URL as its client_id and registered nothing; the hub fetched the document once.
    assert parse_qs(urlsplit(captured[0]).query)["client_id"] == [url]
    assert results[0]["iss"] == ISSUER  # RFC 9207
    async with hub.tenancy.db.session() as session:
        clients = (await session.scalars(select(McpClient))).all()
    assert [(c.client_id, c.secret_hash, c.metadata_json["client_name"]) for c in clients] == [
        (url, None, "Metadata Agent")
    ]
    assert documents.hits.count("/agent/client.json") == 1
    assert hub.server.client_metadata_fetcher.fetches == 1
    grants = await list_grants(hub.tenancy.db, user_id=hub.user.id)
    assert [(g.client_id, g.client_name) for g in grants] == [(url, "Metadata Agent")]


async def test_consent_page_names_the_host_that_publishes_the_document(cimd_hub: Hub, documents: Documents) -> None:
    url = documents.publish("/consent/client.json")
    _, challenge = _pkce()
    browser = cimd_hub.client()
    started = await browser.get(authorize_url(url, challenge, state="s"))
    assert started.status_code == 302, started.text
    signin = await browser.get(started.headers["location"])
    assert "Metadata Agent" in signin.text
    request_token = signin.text.split('name="request" value="', 1)[1].split('"', 1)[0]
    csrf = signin.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    signed_in = await browser.post(
        "/oauth/consent",
        data={
            "request": request_token,
            "csrf": csrf,
            "action": "signin",
            "email": cimd_hub.user.email,
            "password": PASSWORD,
        },
    )
    consent = await browser.get(signed_in.headers["location"])
    assert "describes itself at <strong>127.0.0.1</strong>" in consent.text
    assert url in consent.text


@pytest.mark.parametrize(
    ("path", "document", "options", "reason"),
    [
        (
            "/wrong-id.json",
            {"client_id": "https://elsewhere.example/c.json", "redirect_uris": [REDIRECT]},
            {},
            "must be exactly its own URL",
        ),
        ("/secret.json", "valid+secret", {}, "must not contain client_secret"),
        ("/confidential.json", "valid+basic", {}, "token_endpoint_auth_method 'client_secret_basic'"),
        ("/no-redirects.json", "valid-redirects", {}, "redirect_uris must list at least one URI"),
        ("/evil-redirect.json", "valid+http-redirect", {}, "use https"),
        ("/moved.json", None, {"status": 302, "headers": {"location": "/wrong-id.json"}}, "redirects are not followed"),
        ("/html.json", None, {"headers": {"content-type": "text/html"}}, "not application/json"),
        ("/huge.json", None, {"body": b"{" + b" " * 6000 + b"}"}, "larger than 5120 bytes"),
        ("/gone.json", None, {"status": 404}, "HTTP 404"),
        ("/garbage.json", None, {"body": b"not json"}, "not valid JSON"),
    ],
)
async def test_unusable_documents_are_refused_with_the_reason(
    cimd_hub: Hub, documents: Documents, path: str, document: Any, options: dict[str, Any], reason: str
) -> None:
    url = f"{documents.base}{path}"
    variants = {
        "valid+secret": documents.valid(url, client_secret="s3cret"),
        "valid+basic": documents.valid(url, token_endpoint_auth_method="client_secret_basic"),
        "valid-redirects": {k: v for k, v in documents.valid(url).items() if k != "redirect_uris"},
        "valid+http-redirect": documents.valid(url, redirect_uris=["http://evil.example/cb"]),
    }
    documents.publish(path, variants[document] if isinstance(document, str) else document, **options)
    _, challenge = _pkce()
    response = await cimd_hub.client().get(authorize_url(url, challenge, state="s"))
    assert response.status_code == 400 and "location" not in response.headers
    assert response.json()["error"] == "invalid_client"
    assert reason in response.json()["error_description"]
    async with cimd_hub.tenancy.db.session() as session:
        assert await session.get(McpClient, url) is None


async def test_a_redirect_uri_the_document_does_not_list_is_refused(cimd_hub: Hub, documents: Documents) -> None:
    url = documents.publish("/listed.json")
    _, challenge = _pkce()
    response = await cimd_hub.client().get(
        authorize_url(url, challenge, state="s", redirect_uri="http://localhost:9999/steal")
    )
    assert response.status_code == 400 and "location" not in response.headers
    assert "not registered" in response.json()["error_description"]


async def test_private_addresses_are_refused_by_default(documents: Documents, tls: tuple[Path, Path]) -> None:
    documents.hits.clear()
    url = documents.publish("/private.json")
    strict = ClientMetadataFetcher(ssl_context=trusting(tls[0]))
    try:
        with pytest.raises(ClientMetadataError, match="private or loopback"):
            await strict.get(url)
        with pytest.raises(ClientMetadataError, match="private or loopback"):  # the failure is cached briefly
            await strict.get(url)
        assert strict.fetches == 1
    finally:
        await strict.aclose()
    assert "/private.json" not in documents.hits  # refused before connecting


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://agent.example/client.json", "must be an https URL"),
        ("https://agent.example", "must have a path"),
        ("https://agent.example/", "must have a path"),
        ("https://user:pw@agent.example/c.json", "user name or password"),
        ("https://agent.example/a/../c.json", r"\.\. path segments"),
        ("https://agent.example/c.json#x", "fragment"),
        ("https://agent.example/" + "x" * 300, "limited to 255"),
    ],
)
def test_client_id_urls_follow_the_drafts_rules(url: str, reason: str) -> None:
    with pytest.raises(ClientMetadataError, match=reason):
        check_client_id_url(url)
    check_client_id_url("https://agent.example/oauth/client.json")
