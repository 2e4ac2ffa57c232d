"""Recognise greetings, thanks, goodbyes and "siapa kamu" so they get a canned reply.

A government bot must never escalate "makasih min 🙏" to a human or answer it with an entry.
A message is smalltalk only when every word in it is a smalltalk word or a stopword; a greeting
wrapped around a real question is not smalltalk, the question is matched as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class SmalltalkCategory:
    name: str
    words: frozenset[str]
    required: frozenset[str]


@cache
def bundled_categories() -> tuple[SmalltalkCategory, ...]:
    text = resources.files("bot.data").joinpath("smalltalk.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return tuple(
        SmalltalkCategory(
            name=str(name),
            words=frozenset(str(w).lower() for w in spec.get("words", [])),
            required=frozenset(str(w).lower() for w in spec.get("required", [])),
        )
        for name, spec in data.items()
    )


def classify(
    words: Sequence[str],
    stopwords: frozenset[str],
    categories: Sequence[SmalltalkCategory] | None = None,
) -> str | None:
    """Return the smalltalk category of a message's words, or None if it says something else.

    `words` are slang-normalised words before stemming. A message with no words at all (only
    emoji or punctuation) counts as an acknowledgement.
    """
    categories = categories if categories is not None else bundled_categories()
    if not words:
        return "ack"
    vocabulary = frozenset().union(*(c.words for c in categories))
    if any(w not in vocabulary and w not in stopwords for w in words):
        return None
    present = set(words)
    for category in categories:
        required = category.required or category.words
        if present & required:
            return category.name
    # Only stopwords and words that need a partner ("bantuan" without "makasih"): if nothing is
    # left that could be a question, treat it as an opener, otherwise let the matcher decide.
    if all(w in stopwords for w in words):
        return "greeting"
    return None
