"""Decide what to do with a resident's message: answer, suggest, escalate, or smalltalk.

Scoring is lexical and explainable, which matters for a government account: an admin can see
why an entry was chosen. Each entry gets two coverages of normalised, IDF-weighted tokens:
- how much of the *message* the entry explains (its questions and keywords fully, its answer
  partly): words the knowledge base has never seen count against every entry, which is what
  makes "bikin paspor" escalate instead of answering the KTP entry;
- how much of the entry's best *question* the message covers, which rewards specific matches.
The best few entries are then told apart by the words that separate them (bot.rerank), whose
probabilities are blended into their scores. The bot answers only when the best entry is both
high and clearly ahead of the runner-up.

Scoring is vectorised with numpy over inverted lists so that a question takes well under a
millisecond at 10,000 entries (see benchmarks/).
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process

from bot.background import Background, bundled_background
from bot.config import MatcherConfig
from bot.knowledge import Entry, KnowledgeBase
from bot.normalize import (
    Lexicon,
    Normalizer,
    bundled_lexicon,
    extend_lexicon,
    raw_tokens,
    stem_candidates,
)
from bot.postings import postings
from bot.rerank import LocalModel
from bot.smalltalk import classify as classify_smalltalk

Decision = Literal["answer", "suggest", "escalate", "smalltalk"]

# How much a word found only in an entry's answer (not its questions) explains of a message.
ANSWER_FIELD_WEIGHT = 0.45
# Share of the score from message coverage; the rest from question coverage.
MESSAGE_COVERAGE_SHARE = 0.6
# Words the knowledge base has never seen weigh this share of the rarest known word.
UNKNOWN_WEIGHT = 0.75
# Generic words (bot/data/generic.txt) weigh this share of their IDF.
GENERIC_WEIGHT = 0.35
# Another institution's service the knowledge base never mentions (bot/data/outside.txt)
# weighs this multiple of the rarest known word: it is what the message is really about.
OUTSIDE_WEIGHT = 2.0
_SENTENCE = re.compile(r"[.?!\n]+|,\s+(?:tapi|tp|trus|terus|jadi|jd)\b", re.IGNORECASE)
# An escalation goes to the best OPD only when it leads the next one by this many points.
ROUTE_LEAD = 5.0
# Points added to an entry when a message contains one of its multi-word keywords whole.
KEYWORD_PHRASE_BONUS = 5.0
MAX_MESSAGE_CHARS = 4096
# Unknown tokens this short ("rb", "jt", "m", "x") are units and chat noise, not topics.
SHORT_UNKNOWN = 2
FUZZY_CUTOFF = 84
FUZZY_MIN_LENGTH = 5
# The best few entries are told apart by bot.rerank; its probabilities make up this share of
# their scores. Measured on our four labelled sets, each left out in turn while the thresholds
# were chosen on the other three: right answers rose from 48% to 58% of in-scope messages with
# wrong answers still under 2% (README, "Matcher quality").
LOCAL_SHARE = 1 / 6
LOCAL_CANDIDATES = 5


@dataclass(frozen=True)
class Candidate:
    entry: str  # "opd/entry-id"
    score: float


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided, in the shape the CLI's JSON contract and the bot both use."""

    decision: Decision
    entry: str | None
    score: float
    opd: str | None
    candidates: tuple[Candidate, ...] = ()
    smalltalk: str | None = None  # category, for decision == "smalltalk"
    tokens: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "entry": self.entry,
            "score": round(self.score, 2),
            "opd": self.opd,
            "candidates": [{"entry": c.entry, "score": round(c.score, 2)} for c in self.candidates],
        }


class Matcher:
    """A knowledge base compiled for matching. Build once, then call `match` per message."""

    def __init__(
        self,
        kb: KnowledgeBase,
        config: MatcherConfig | None = None,
        lexicon: Lexicon | None = None,
        background: Background | None = None,
    ) -> None:
        self.kb = kb
        self.background = background if background is not None else bundled_background()
        self.config = config or MatcherConfig()
        self.entries: tuple[Entry, ...] = kb.entries
        lexicon = extend_lexicon(lexicon or bundled_lexicon(), kb.synonyms)
        self.normalizer = Normalizer(lexicon)
        self._compile()

    def __getstate__(self) -> dict[str, object]:
        # Per-message caches are rebuilt on use; pickling them would only bloat the cache file.
        state = dict(self.__dict__)
        state["_resolve_cache"] = {}
        return state

    # --- building

    def _compile(self) -> None:
        norm = self.normalizer
        # Tokenise every text once; equal tokens share one string object (a 10,000-entry
        # knowledge base has about a million tokens but only tens of thousands of distinct ones).
        texts: dict[str, list[str]] = {}
        for entry in self.entries:
            for text in (*entry.questions, *entry.keywords, entry.answer):
                if text not in texts:
                    texts[text] = list(map(sys.intern, raw_tokens(text)))
        # Words that occur bare anywhere in the knowledge base are roots for the stemmer.
        bare: set[str] = set().union(*texts.values())
        slang = norm.lexicon.slang
        for token in bare & slang.keys():
            bare.update(slang[token])
        norm.add_roots(w for w in bare if len(w) >= 3 and not w.isdigit())
        content = {text: norm.content_of_words(norm.words_of(t)) for text, t in texts.items()}
        del texts

        # Residents name the agency ("capil", "dinsos", "ppid"): its name and aliases act as
        # keywords of all its entries, and route an escalation.
        # Only one-word names that stay themselves count: "dinas tenaga kerja" must not make
        # every "kerja" a name, nor "perizinan" (stemmed to "izin") every "izin".
        generic_words = _data_lines("generic.txt")
        generic = set(generic_words)
        opd_words = {
            opd.id: {
                alias.lower()
                for alias in (opd.id, *opd.aliases)
                if norm.content(alias) == [alias.lower()] and alias.lower() not in generic
            }
            for opd in self.kb.opds.values()
        }
        self._opd_names: dict[str, str] = {}
        for opd_id, words in opd_words.items():
            for token in words:
                self._opd_names.setdefault(token, opd_id)

        # Generic words, in the matcher's own token form.
        self.generic = frozenset(token for word in generic_words for token in norm.content(word))
        # Keywords of two or more topic words ("balik nama", "uji kir"), found whole in a
        # message, are the OPD's own strongest hint.
        self._keyword_phrases: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        question_field: list[set[str]] = []
        answer_field: list[set[str]] = []
        questions: list[tuple[int, list[str]]] = []
        for index, entry in enumerate(self.entries):
            q_tokens: set[str] = set(opd_words.get(entry.opd_id, ()))
            for question in entry.questions:
                tokens = content[question]
                questions.append((index, tokens))
                q_tokens.update(tokens)
            for keyword in entry.keywords:
                q_tokens.update(content[keyword])
                phrase = tuple(t for t in content[keyword] if t not in self.generic)
                if len(phrase) >= 2:
                    self._keyword_phrases.setdefault(phrase[0], []).append((phrase, index))
            question_field.append(q_tokens)
            answer_field.append(set(content[entry.answer]) - q_tokens)
        self.local = LocalModel([self._examples(entry, content) for entry in self.entries])

        n = len(self.entries)
        df: Counter[str] = Counter()
        for q_tokens, a_tokens in zip(question_field, answer_field, strict=True):
            df.update(q_tokens | a_tokens)
        self.document_frequency = df
        # IDF over this knowledge base plus a background of other OPDs' entries: in a small
        # knowledge base "jam" or "biaya" may occur in one entry only and would look as telling
        # as "paspor"; the background knows they are ordinary service words.
        bg = self.background
        total = n + bg.size
        self.vocabulary: dict[str, float] = {
            token: math.log((total + 1) / (count + bg.df.get(token, 0) + 0.5)) + 1.0
            for token, count in df.items()
        }
        self._max_idf = max(self.vocabulary.values(), default=1.0)
        self._vocab_list = sorted(self.vocabulary)

        self._q_post = postings(question_field)
        self._a_post = postings(answer_field)
        self._question_post = postings([tokens for _, tokens in questions])
        idf = self.vocabulary
        self._question_norm = np.asarray(
            [sum(map(idf.__getitem__, tokens)) or 1.0 for _, tokens in questions],
            dtype=np.float64,
        )
        self._question_owner = np.asarray([index for index, _ in questions], dtype=np.int32)

        self._opd_ids = list(self.kb.opds)
        opd_index = {opd_id: i for i, opd_id in enumerate(self._opd_ids)}
        self._opd_of = np.asarray([opd_index[e.opd_id] for e in self.entries], dtype=np.int32)
        self._resolve_cache: dict[str, str | None] = {}
        # Other institutions' services, in the matcher's own token form.
        outside = {tuple(norm.content(p)) for p in _data_lines("outside.txt")} - {()}
        # A service the knowledge base itself talks about is not outside it: "polisi" is known
        # when an answer mentions "kepolisian" (a word whose possible roots include it).
        vocabulary_text = " ".join(self.vocabulary)
        texts = [" " + " ".join(tokens) + " " for tokens in content.values()]

        def known(phrase: tuple[str, ...]) -> bool:
            if len(phrase) > 1:
                return _mentioned(phrase, texts)
            word = phrase[0]
            if word in self.vocabulary:
                return True
            containing = re.findall(rf"\S*{re.escape(word)}\S*", vocabulary_text)
            return any(word in stem_candidates(w) for w in containing)

        self._outside_unknown = tuple(phrase for phrase in outside if not known(phrase))

    def _examples(self, entry: Entry, content: dict[str, list[str]]) -> list[list[str]]:
        """What bot.rerank learns an entry from: each question, its keywords, its answer."""
        examples = [content[question] for question in entry.questions]
        if entry.keywords:
            examples.append([t for k in entry.keywords for t in content[k]])
        examples.append(content[entry.answer])
        return examples

    # --- matching

    def resolve(self, token: str) -> str | None:
        """Map a message token to a knowledge-base token: exact, typo-corrected, or None."""
        if token in self.vocabulary:
            return token
        cached = self._resolve_cache.get(token, ...)
        if cached is not ...:
            return cached  # type: ignore[return-value]
        result: str | None = None
        if len(token) >= FUZZY_MIN_LENGTH and not token.isdigit():
            best = process.extractOne(
                token, self._vocab_list, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
            )
            if best is not None and abs(len(best[0]) - len(token)) <= 2:
                result = best[0]
        if len(self._resolve_cache) < 100_000:
            self._resolve_cache[token] = result
        return result

    def match(self, text: str) -> MatchResult:
        # Telegram messages are at most 4096 characters; a longer text (a pasted document, a
        # script) is cut there so one message cannot hold the matcher for seconds.
        text = text[:MAX_MESSAGE_CHARS]
        norm = self.normalizer
        words = norm.words(text)
        category = classify_smalltalk(words, norm.lexicon.stopwords)
        if category is not None:
            return MatchResult("smalltalk", None, 0.0, None, smalltalk=category)
        tokens = self._content(words)
        if not tokens:
            # Only padding ("mau tanya min"): invite the question instead of escalating.
            return MatchResult("smalltalk", None, 0.0, None, smalltalk="greeting")
        scores = self.rank(tokens)
        # In a story the question sits in one sentence; the rest would dilute it, so each
        # sentence also gets its own chance.
        sentences = [self._content(norm.words(s)) for s in _SENTENCE.split(text)]
        sentences = [s for s in sentences if 2 <= len(s) < len(tokens)]
        if len(sentences) >= 2:
            for sentence in sentences:
                scores = np.maximum(scores, self.rank(sentence))
        return self._decide(scores, tokens)

    def _content(self, words: Sequence[str]) -> list[str]:
        return self.normalizer.content_of_words(words)

    def weight(self, token: str) -> float:
        idf = self.vocabulary[token]
        return idf * GENERIC_WEIGHT if token in self.generic else idf

    def _score(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return each entry's score (0-100) and its topic evidence (0 = only generic words)."""
        n = len(self.entries)
        message = np.zeros(n, dtype=np.float64)
        topic = np.zeros(n, dtype=np.float64)
        question = np.zeros(len(self._question_norm), dtype=np.float64)
        total = 0.0
        present = set(tokens)
        for phrase in self._outside_unknown:
            if phrase[0] in present and _contains(tokens, phrase):
                total += OUTSIDE_WEIGHT * self._max_idf
        for raw in tokens:
            token = self.resolve(raw)
            if token is None:
                # An everyday word the knowledge base lacks is story, not topic.
                factor = (
                    GENERIC_WEIGHT
                    if raw in self.generic or len(raw) <= SHORT_UNKNOWN
                    else UNKNOWN_WEIGHT
                )
                total += factor * self._max_idf
                continue
            weight = self.weight(token)
            total += weight
            is_topic = token not in self.generic
            posting = self._q_post.get(token)
            if posting is not None:
                message[posting] += weight
                if is_topic:
                    topic[posting] += weight
            posting = self._a_post.get(token)
            if posting is not None:
                message[posting] += ANSWER_FIELD_WEIGHT * weight
                if is_topic:
                    topic[posting] += ANSWER_FIELD_WEIGHT * weight
            posting = self._question_post.get(token)
            if posting is not None:
                question[posting] += weight
        if total == 0.0:
            return message, topic
        coverage = np.zeros(n, dtype=np.float64)
        hit = np.nonzero(question)[0]
        if hit.size:
            ratio = question[hit] / self._question_norm[hit]
            np.maximum.at(coverage, self._question_owner[hit], ratio)
        scores = 100.0 * (
            MESSAGE_COVERAGE_SHARE * (message / total) + (1 - MESSAGE_COVERAGE_SHARE) * coverage
        )
        if self._keyword_phrases:
            resolved = [self.resolve(t) or t for t in tokens]
            for i, token in enumerate(resolved):
                for phrase, index in self._keyword_phrases.get(token, ()):
                    if tuple(resolved[i : i + len(phrase)]) == phrase:
                        scores[index] = min(100.0, scores[index] + KEYWORD_PHRASE_BONUS)
        return scores, topic

    def rank(self, tokens: Sequence[str]) -> np.ndarray:
        """Each entry's score; entries sharing no topic word with the message score 0."""
        scores, topic = self._score(tokens)
        return np.where(topic > 0, scores, 0.0)

    def _decide(self, scores: np.ndarray, tokens: Sequence[str]) -> MatchResult:
        cfg = self.config
        k = min(len(scores), 8)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        lexical = scores[top]
        best_lexical = float(lexical[0]) if len(top) else 0.0
        # Blend in how well the message's words tell the best few entries apart (bot.rerank).
        # Entries that share no topic word with the message take part in the model (they are
        # alternatives the message's words must beat) but keep their score of 0. The model is
        # fitted only when it can change the decision: below both thresholds the message is
        # escalated whatever it says.
        blended = (1 - LOCAL_SHARE) * lexical
        ceiling = (1 - LOCAL_SHARE) * best_lexical + LOCAL_SHARE * 100.0
        if best_lexical > 0 and (
            ceiling >= cfg.answer_threshold or best_lexical >= cfg.suggest_threshold
        ):
            candidates = top[:LOCAL_CANDIDATES]
            resolved = [t for t in map(self.resolve, tokens) if t is not None]
            chances = self.local.probabilities(resolved, candidates)
            blended[: len(candidates)] += LOCAL_SHARE * 100.0 * chances
            blended[lexical <= 0] = 0.0
        order = np.argsort(-blended, kind="stable")
        top, lexical, blended = top[order], lexical[order], blended[order]
        best = float(blended[0]) if len(top) else 0.0
        runner_up = float(blended[1]) if len(top) > 1 else 0.0
        three = zip(top[:3], blended[:3], lexical[:3], strict=True)
        shown = [(Candidate(self.entries[i].uid, float(s)), lex) for i, s, lex in three if lex > 0]
        ranked = tuple(candidate for candidate, _ in shown)
        opd = self._route(scores, tokens)
        confident = best >= cfg.answer_threshold and best - runner_up >= cfg.answer_margin
        if best_lexical > 0 and confident:
            uid = self.entries[top[0]].uid
            owner = self.entries[top[0]].opd_id
            return MatchResult("answer", uid, best, owner, ranked, tokens=tuple(tokens))
        # Whether to offer choices at all is the coverage score's call (the blend says which
        # of the entries is meant, not whether the knowledge base answers the message), and
        # its best entry's alone; the others join it when they are within suggest_window.
        suggestions: tuple[Candidate, ...] = ()
        if best_lexical >= cfg.suggest_threshold:
            floor = best_lexical - cfg.suggest_window
            suggestions = tuple(c for c, lex in shown if lex >= floor)[: cfg.max_candidates]
        if suggestions:
            return MatchResult("suggest", None, best, opd, suggestions, tokens=tuple(tokens))
        return MatchResult("escalate", None, best, opd, ranked, tokens=tuple(tokens))

    def _route(self, scores: np.ndarray, tokens: Sequence[str]) -> str | None:
        for token in tokens:
            named = self._opd_names.get(token)
            if named is not None:
                return named
        if not len(scores):
            return None
        per_opd = np.zeros(len(self._opd_ids))
        np.maximum.at(per_opd, self._opd_of, scores)
        order = np.argsort(-per_opd)
        best = per_opd[order[0]]
        second = per_opd[order[1]] if len(order) > 1 else 0.0
        if best >= self.config.route_threshold and best - second >= ROUTE_LEAD:
            return self._opd_ids[int(order[0])]
        return None


def _data_lines(name: str) -> list[str]:
    text = resources.files("bot.data").joinpath(name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _contains(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    size = len(phrase)
    return any(tuple(tokens[i : i + size]) == tuple(phrase) for i in range(len(tokens) - size + 1))


def _mentioned(phrase: Sequence[str], texts: Sequence[str]) -> bool:
    needle = " " + " ".join(phrase) + " "
    return any(needle in text for text in texts)
