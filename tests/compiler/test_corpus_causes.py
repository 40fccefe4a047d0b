"""More causes the corpus run found (issue 13b), each through the real compile and the real runtime.

Like `test_corpus_cases.py`: `mcphub compile` runs the scan and the test stage (every tool called through the hub's
runtime against the stage's recording upstream, each request checked by openapi-core); the requests asserted on
here are the bytes that upstream recorded.
"""

from __future__ import annotations

from pathlib import Path

from test_corpus_cases import OK, _compile, _description, _requests

from mcphub.compiler.ir import Integration


def test_a_server_variable_holding_the_base_path_keeps_the_host_allowed(tmp_path: Path) -> None:
    """eBay's `https://api.ebay.com{basePath}`: every call was refused by the egress policy (host not allowed)."""
    document = _description(
        {"/charity_org": {"get": {"operationId": "get_charity_orgs", "responses": OK}}},
        server="https://api.example.com{basePath}",
    )
    document["servers"][0]["variables"] = {"basePath": {"default": "/commerce/charity/v1"}}
    code, output, package = _compile(tmp_path, document, "ebay")
    assert code == 0, output
    sent = _requests(package, document)["get_charity_orgs"]
    assert sent and all(r.target == "/commerce/charity/v1/charity_org" for r in sent)
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    assert integration.base_url == "https://api.example.com{basePath}"
