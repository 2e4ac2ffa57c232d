"""Property-based checks: no message, however strange, breaks the matcher or its JSON contract."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.normalize import raw_tokens
from tests.conftest import BUNDLED_KB

DECISIONS = {"answer", "suggest", "escalate", "smalltalk"}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_knowledge(BUNDLED_KB))


# Residents' text: any unicode (emoji, RTL, zero-width, control characters) mixed with real words.
words = st.sampled_from(
    [
        "ktp",
        "KK",
        "akte",
        "gmn",
        "bikin",
        "hilang",
        "min",
        "🙏",
        "\u200b",
        "\u202e",
        "سلام",
        "makasih",
        "bansos",
        "?",
        "-",
        "2",
        "\n",
        "\t",
        "surat2",
        "TOLONGGGG",
        "e-ktp",
    ]
)
messages = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(words, st.text(max_size=12)), max_size=40).map(" ".join),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=messages)
def test_any_message_gets_a_valid_decision(matcher, text):
    result = matcher.match(text)
    assert result.decision in DECISIONS
    payload = json.loads(json.dumps(result.to_json()))
    assert (payload["entry"] is not None) == (payload["decision"] == "answer")
    assert len(payload["candidates"]) <= 3
    scores = [c["score"] for c in payload["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 100 for s in scores)
    if payload["entry"] is not None:
        assert matcher.kb.entry(payload["entry"]) is not None


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_tokens_are_plain_lowercase_ascii(text):
    for token in raw_tokens(text):
        assert token and token.isascii() and token.isalnum() and token == token.lower()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=messages)
def test_shouting_does_not_change_the_decision(matcher, text):
    calm = matcher.match(text)
    loud = matcher.match(text.upper())
    assert loud.decision == calm.decision or not text.isascii()
