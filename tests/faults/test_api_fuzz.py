"""The JSON API under schemathesis: generated valid and invalid requests to every operation of
`/api/v1/openapi.json`, against a real `mcphub serve` process, as an admin key, a user key and a user's web
session. No answer may be a 5xx, and every answer must be one the document describes (status code, content
type, body schema). Examples are bounded and derandomized, so the run is short and the same every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from runtime.support import Account, Upstream, petstore, provision, serve, write_package
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.hub_process import hub_env, hub_process

PASSWORD = "correct horse battery staple"  # runtime.support.make_account's
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}  # per operation and caller
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Hub:
    base: str
    admin: Account
    user: Account


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp("fuzz")
    recorder = Upstream()
    with serve(recorder) as upstream_base:
        recorder.base_url = upstream_base
        write_package(petstore(upstream_base), folder / "catalog")
        data_dir = folder / "data"
        db_url = f"sqlite+aiosqlite:///{folder / 'hub.db'}"
        admin, user = provision(
            data_dir,
            ("admin@example.com", {"enable": ["pets"]}),
            ("user@example.com", {"enable": ["pets"], "credentials": {"pets": {"token": "t"}}}),
            url=db_url,
        )
        with hub_process(hub_env(db_url, data_dir), folder / "catalog") as base:
            yield Hub(base, admin, user)


def _callers(hub: Hub) -> dict[str, dict[str, Any]]:
    signed_in = httpx2.post(f"{hub.base}/api/v1/auth/sign-in", json={"email": hub.user.email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    cookies, csrf = dict(signed_in.cookies), signed_in.json()["csrf_token"]
    return {
        "admin key": {"headers": hub.admin.headers},
        "user key": {"headers": hub.user.headers},
        "user session": {"headers": {"X-CSRF-Token": csrf}, "cookies": cookies},
    }


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    # Signing out ends the session the later operations use: last.
    return sorted(operations, key=lambda operation: operation.path.endswith("/sign-out"))


def _fuzz(hub: Hub, operation: Any, mode: GenerationMode, auth: dict[str, Any]) -> None:
    """Up to EXAMPLES[mode] requests to one operation; raises at the first answer that fails a check."""
    protected = {hub.admin.key_id, hub.user.key_id}  # revoking or rotating the callers' own keys ends the run

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure as found
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if (case.path_parameters or {}).get("key_id") in protected:
            case.path_parameters["key_id"] = 10**9
        headers = {**(case.headers or {}), **auth["headers"]}
        case.call_and_validate(base_url=hub.base, headers=headers, cookies=auth.get("cookies"), checks=CHECKS)

    run()


def test_the_json_api_answers_as_documented(hub: Hub) -> None:
    schema = schemathesis.openapi.from_url(f"{hub.base}/api/v1/openapi.json")
    callers = _callers(hub)
    failures = []
    for operation in _operations(schema):
        for mode in EXAMPLES:
            for caller, auth in callers.items():
                try:
                    _fuzz(hub, operation, mode, auth)
                except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                    assert mode == GenerationMode.NEGATIVE, operation.label
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports several failures as a group
                    failures.append(f"{operation.label} ({mode}, as {caller}): {exc}")
    assert not failures, "\n\n".join(failures)
