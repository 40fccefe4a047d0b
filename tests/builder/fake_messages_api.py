"""A local stand-in for Anthropic's Messages API that replays hand-written answers, keyed by the exact request.

Tests run the real `anthropic` client with `base_url` pointed here. Each recording in `tests/fixtures/llm/*.json`
holds the sha256 of the request body it answers (canonical JSON of model, system, messages, output format and
tools), a readable copy of that request, and the response body, written by hand to match what the real API returns
for that prompt (a `message` with `usage`). A request with no recording is answered 500 with its sha256, and its
body is saved under `.cache/llm-unrecorded/` so the missing answer can be written: the fake never guesses.

`aliases` maps addresses that change from run to run (a local site on an ephemeral port) to the stable ones a
recording was written for: the request is keyed with the alias, and the answer says the real address again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runtime.support import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "tests" / "fixtures" / "llm"
UNRECORDED = REPO / ".cache" / "llm-unrecorded"
KEYED_FIELDS = ("model", "system", "messages", "output_config", "tools", "tool_choice")


def request_key(body: dict[str, Any]) -> str:
    keyed = {name: body[name] for name in KEYED_FIELDS if name in body}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_recordings() -> dict[str, dict[str, Any]]:
    recordings = {}
    for path in sorted(RECORDINGS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        recordings[data["request_sha256"]] = data["response"]
    return recordings


class FakeMessagesApi:
    def __init__(self) -> None:
        self.recordings = load_recordings()
        self.requests: list[dict[str, Any]] = []
        self.aliases: dict[str, str] = {}  # real address -> the address the recordings name
        self.app = Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"])])

    async def messages(self, request: Request) -> JSONResponse:
        # The API takes the key as `x-api-key` or, as the 2.x SDK sends it, `Authorization: Bearer`.
        if not request.headers.get("x-api-key") and not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse(
                {"type": "error", "error": {"type": "authentication_error", "message": "an API key is required"}},
                status_code=401,
            )
        text = (await request.body()).decode()
        for real, alias in self.aliases.items():
            text = text.replace(real, alias)
        body = json.loads(text)
        self.requests.append(body)
        key = request_key(body)
        answer = self.recordings.get(key)
        if answer is None:
            UNRECORDED.mkdir(parents=True, exist_ok=True)
            (UNRECORDED / f"{key}.request.json").write_text(json.dumps(body, indent=1, ensure_ascii=False))
            message = f"no recording for request {key}; its body is in .cache/llm-unrecorded/{key}.request.json"
            return JSONResponse({"type": "error", "error": {"type": "api_error", "message": message}}, status_code=500)
        reply = json.dumps(answer, ensure_ascii=False)
        for real, alias in self.aliases.items():
            reply = reply.replace(alias, real)
        return JSONResponse(json.loads(reply), headers={"request-id": f"req_fake_{key[:16]}"})


@contextmanager
def fake_messages_api() -> Iterator[tuple[str, FakeMessagesApi]]:
    """(base URL, server) of a fake Messages API on 127.0.0.1."""
    fake = FakeMessagesApi()
    with serve(fake.app) as base:
        yield base, fake
