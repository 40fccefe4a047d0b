"""The call log's redaction skips the secret pattern for texts without any of its markers; that must never
change what gets redacted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mcphub.runtime.tenancy.usage import _SECRET_VALUE, REDACTED, redact

_FRAGMENTS = [
    "Bearer abcdefgh12345",
    "BASIC dXNlcjpwYXNzd29yZA==",
    "token   0123456789abcdef",
    "mcp_sk_AbC-123",
    "sk_live_51Habc",
    "pk_test_XYZ",
    "ghp_" + "a" * 24,
    "gho_" + "B" * 30,
    "xoxb-123-456-abc",
    "AKIA" + "ABCDEFGHIJKLMNOP",
    "plain words",
    "high light",
    " ",
    "_",
    "-",
]


@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=12), max_size=8))
def test_markers_never_change_what_is_redacted(parts: list[str]) -> None:
    text = "".join(parts)
    assert redact(text) == _SECRET_VALUE.sub(REDACTED, text)


def test_each_secret_kind_is_still_redacted() -> None:
    for fragment in _FRAGMENTS[:10]:
        assert REDACTED in redact(f"see {fragment} here"), fragment
