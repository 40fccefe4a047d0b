"""The builder's LLM: one place that owns the Anthropic client, the model, structured output, retries and cost.

The LLM only ever produces data — a pydantic model (a draft API, a description rewrite) that the compiler then
validates; nothing it writes is executed or copied into a package as code. Answers are asked for as structured
output (`messages.parse` with the pydantic model as the output format: the API constrains the answer to the
model's JSON Schema and the SDK validates it); a validation failure is fed back once more as a user turn, as a
person would point out the mistake.

`mcphub compile` never calls this module: the sources and passes that use it (`mcphub build`, the augment pass)
pin what it produced in files next to the spec, so a compile stays offline and reproducible.

Configuration: `ANTHROPIC_API_KEY` (required), `MCPHUB_LLM_MODEL` (default below), `ANTHROPIC_BASE_URL` (the SDK
reads it: tests point it at a local fake Messages API server), `MCPHUB_LLM_PRICE` ("input/output" US dollars per
million tokens, for a model whose price this module does not know).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mcphub.compiler.errors import CompileError

__all__ = ["DEFAULT_MODEL", "LLM", "LLMError", "LLMUnavailable", "Usage", "llm_available", "llm_from_env"]

DEFAULT_MODEL = "claude-sonnet-5-5"
# US dollars per million tokens (input, output), from Anthropic's published price list (2026-12).
PRICES: Mapping[str, tuple[float, float]] = {
    "claude-sonnet-5-5": (2.0, 10.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-haiku-4-5": (1.0, 5.0),
}
MAX_TOKENS = 16_000
Answer = TypeVar("Answer", bound=BaseModel)


class LLMError(CompileError):
    """The LLM could not produce a usable answer (API error, refusal, or output that never validated)."""


class LLMUnavailable(LLMError):
    """No LLM is configured; the message says what to set."""


@dataclass
class Usage:
    """Tokens and cost of every LLM request one piece of work made (shown to the user)."""

    model: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    price: tuple[float, float] | None = None  # per million tokens; None: unknown

    @property
    def cost_usd(self) -> float | None:
        if self.price is None:
            return None
        return (self.input_tokens * self.price[0] + self.output_tokens * self.price[1]) / 1_000_000

    def add(self, input_tokens: int, output_tokens: int) -> None:
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def summary(self) -> str:
        cost = self.cost_usd
        money = f", ${cost:.4f}" if cost is not None else " (price unknown: set MCPHUB_LLM_PRICE=in/out per MTok)"
        return (
            f"{self.model}: {self.requests} request{'s' if self.requests != 1 else ''}, "
            f"{self.input_tokens:,} in / {self.output_tokens:,} out tokens{money}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }


@dataclass
class LLM:
    """A configured model. `ask` returns a validated pydantic answer and counts its tokens in `usage`."""

    client: Any  # anthropic.Anthropic; typed loosely so importing this module does not import the SDK
    model: str
    usage: Usage = field(init=False)
    price: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        self.usage = Usage(self.model, price=self.price if self.price is not None else PRICES.get(self.model))

    def ask(self, answer: type[Answer], *, system: str, prompt: str, max_tokens: int = MAX_TOKENS) -> Answer:
        """One structured answer of type `answer`; a reply that does not validate is sent back once to be fixed."""
        import anthropic  # the SDK costs ~0.3 s to import: only the builder's LLM steps pay it

        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        for attempt in (1, 2):
            try:
                reply = self.client.messages.parse(
                    model=self.model, max_tokens=max_tokens, system=system, messages=messages, output_format=answer
                )
            except anthropic.AuthenticationError:
                raise LLMError("the Anthropic API refused ANTHROPIC_API_KEY (401): check the key") from None
            except anthropic.APIStatusError as exc:
                raise LLMError(f"the Anthropic API answered {exc.status_code}: {_api_message(exc)}") from None
            except anthropic.APIConnectionError as exc:
                raise LLMError(
                    f"cannot reach the Anthropic API ({exc}); check the network or ANTHROPIC_BASE_URL"
                ) from None
            except ValidationError as exc:  # the SDK validates the structured output against `answer`
                if attempt == 2:
                    raise LLMError(f"the model's answer did not match {answer.__name__} twice: {exc}") from None
                messages.append({"role": "user", "content": f"That answer was not valid: {exc}. Answer again."})
                continue
            self.usage.add(reply.usage.input_tokens, reply.usage.output_tokens)
            if reply.stop_reason == "refusal":
                raise LLMError("the model declined to answer this request")
            if reply.stop_reason == "max_tokens":
                raise LLMError(f"the answer was cut at {max_tokens:,} tokens; give a smaller input")
            parsed = reply.parsed_output
            if parsed is None:
                raise LLMError("the model's answer held no structured output")
            return parsed  # type: ignore[no-any-return]
        raise AssertionError("unreachable")


def llm_from_env(env: Mapping[str, str] | None = None) -> LLM:
    """The LLM configured by the environment, or LLMUnavailable saying what to set."""
    env = os.environ if env is None else env
    key, price = _configured(env)
    import anthropic

    model = env.get("MCPHUB_LLM_MODEL", "").strip() or DEFAULT_MODEL
    base_url = env.get("ANTHROPIC_BASE_URL") or None
    return LLM(anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=3), model, price=price)


def llm_available(env: Mapping[str, str] | None = None) -> bool:
    """Whether `llm_from_env` would give an LLM (checked without importing the SDK or making a client)."""
    try:
        _configured(os.environ if env is None else env)
    except LLMUnavailable:
        return False
    return True


def _configured(env: Mapping[str, str]) -> tuple[str, tuple[float, float] | None]:
    key = env.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise LLMUnavailable(
            "this step needs an LLM and none is configured: set ANTHROPIC_API_KEY (and optionally MCPHUB_LLM_MODEL, "
            f"default {DEFAULT_MODEL}). OpenAPI files and URLs and Postman collections need no LLM."
        )
    return key, _price(env)


def _price(env: Mapping[str, str]) -> tuple[float, float] | None:
    configured = env.get("MCPHUB_LLM_PRICE", "").strip()
    if not configured:
        return None
    try:
        given, taken = (float(part) for part in configured.split("/"))
    except ValueError:
        raise LLMUnavailable(
            f"MCPHUB_LLM_PRICE={configured!r}: write input/output dollars per million tokens, e.g. 2/10"
        ) from None
    return given, taken


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc)
