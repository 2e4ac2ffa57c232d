"""Indonesian-aware text normalisation shared by the knowledge base and residents' messages.

Residents write "gmn bikin ktp el utk anak sy yg udh 17thn??", OPDs write "Bagaimana cara membuat
KTP-el untuk anak berusia 17 tahun?". Matching works only if both become the same tokens, so the
same pipeline runs on both sides: clean -> tokenise -> slang -> phrase synonyms -> stem ->
drop stopwords. `words()` stops before stemming, so smalltalk detection still sees greetings.
All word lists live in `bot/data/` and can be extended without touching code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import chain

import yaml

_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+")
_TOKEN = re.compile(r"[a-z]+|[0-9]+")
_HYPHENATED = re.compile(r"[a-z]+(?:-[a-z]+)*|[0-9]+")
_REDUPLICATED_2 = re.compile(r"(?<=[a-z]{3})2\b")  # surat2 -> surat
_REPEAT3 = re.compile(r"([a-z])\1{2,}")
_ROMAN_VALUES = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8"}
_ROMAN = re.compile(r"\b(?:viii|vii|iii|ii|iv|vi)\b")

# Affixes for the light stemmer, longest first. Each prefix maps to the letters it may have
# swallowed (Indonesian nasal assimilation: mem+pukul -> memukul, men+tulis -> menulis).
_PARTICLES = ("kah", "lah", "pun", "tah")
_POSSESSIVES = ("nya", "ku", "mu")
# "-in" is the colloquial "-kan"/"-i" (bayarin, diserahin); nge-/ng-/ny- the colloquial meN-.
_SUFFIXES = ("kan", "an", "in", "i")
_PREFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("meng", ("", "k")),
    ("meny", ("s",)),
    ("mem", ("", "p")),
    ("men", ("", "t")),
    ("me", ("",)),
    ("peng", ("", "k")),
    ("peny", ("s",)),
    ("pem", ("", "p")),
    ("pen", ("", "t")),
    ("per", ("",)),
    ("pe", ("",)),
    ("ber", ("",)),
    ("be", ("",)),
    ("di", ("",)),
    ("ter", ("",)),
    ("ke", ("",)),
    ("se", ("",)),
    ("nge", ("",)),
    ("ng", ("", "k")),
    ("ny", ("s", "c")),
)
_MIN_STEM = 3


@dataclass(frozen=True)
class Lexicon:
    """The word lists that drive normalisation (all from data files)."""

    slang: Mapping[str, tuple[str, ...]]
    phrases: Mapping[tuple[str, ...], tuple[str, ...]]
    stopwords: frozenset[str]
    roots: frozenset[str]
    fixed: Mapping[str, str]

    @property
    def phrase_sizes(self) -> Mapping[str, tuple[int, ...]]:
        """First word of a phrase -> the lengths of phrases starting with it, longest first."""
        cached = self.__dict__.get("_phrase_sizes")
        if cached is None:
            sizes: dict[str, set[int]] = {}
            for phrase in self.phrases:
                sizes.setdefault(phrase[0], set()).add(len(phrase))
            cached = {word: tuple(sorted(s, reverse=True)) for word, s in sizes.items()}
            object.__setattr__(self, "_phrase_sizes", cached)
        return cached


def _yaml(text: str) -> object:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _data_text(name: str) -> str:
    return resources.files("bot.data").joinpath(name).read_text(encoding="utf-8")


def clean(text: str) -> str:
    """Lower-case, strip invisible characters, URLs, accents and repeated letters."""
    return " ".join(raw_tokens(text))


def _lower_ascii(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = _INVISIBLE.sub("", text)
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = text.lower()
    if "http" in text or "www" in text or "@" in text:
        text = _URL.sub(" ", text)
    return text


def raw_tokens(text: str) -> list[str]:
    """Lower-case tokens: runs of letters or of digits ("17thn" -> "17", "thn").

    Letters typed three or more times collapse ("hilanggg"), and a word said twice
    ("surat2", "surat-surat") counts once. Each step is one regex pass in C, which keeps
    loading a 10,000-entry knowledge base fast.
    """
    text = _lower_ascii(text)
    if "ii" in text or "iv" in text:
        # "kelas III" is not "kelas I": Roman numerals become digits before repeats collapse.
        text = _ROMAN.sub(lambda m: _ROMAN_VALUES[m.group(0)], text)
    text = _REPEAT3.sub(r"\1", text)
    if "2" in text:
        text = _REDUPLICATED_2.sub("", text)
    if "-" not in text:
        return _TOKEN.findall(text)
    out: list[str] = []
    for token in _HYPHENATED.findall(text):
        if "-" in token:
            parts = token.split("-")
            if len(parts) == 2 and parts[0] == parts[1] and len(parts[0]) >= 3:
                parts = parts[:1]
            out.extend(parts)
        else:
            out.append(token)
    return out


def _split_words(value: str) -> tuple[str, ...]:
    return tuple(raw_tokens(value))


@cache
def bundled_lexicon() -> Lexicon:
    """The lexicon shipped in `bot/data/`."""
    slang_raw = _yaml(_data_text("slang.yaml")) or {}
    slang = {str(k).lower(): _split_words(str(v)) for k, v in slang_raw.items()}
    synonyms: dict[str, list[str]] = {}
    for name in ("synonyms.yaml", "concepts.yaml"):
        for canonical, variants in (_yaml(_data_text(name)) or {}).items():
            synonyms.setdefault(str(canonical), []).extend(str(v) for v in variants)
    stems = _yaml(_data_text("stems.yaml")) or {}
    stopwords = frozenset(
        line.strip().lower()
        for line in _data_text("stopwords.txt").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return make_lexicon(
        slang=slang,
        synonyms={str(k): [str(v) for v in vs] for k, vs in synonyms.items()},
        stopwords=stopwords,
        roots=[str(r) for r in stems.get("roots", [])],
        fixed={str(k): str(v) for k, v in (stems.get("fixed") or {}).items()},
    )


def make_lexicon(
    *,
    slang: Mapping[str, tuple[str, ...]],
    synonyms: Mapping[str, Iterable[str]],
    stopwords: Iterable[str],
    roots: Iterable[str],
    fixed: Mapping[str, str],
) -> Lexicon:
    """Build a lexicon; synonym variants are phrases (in slang-normalised form) -> canonical."""
    phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
    for canonical, variants in synonyms.items():
        target = _apply_slang(_split_words(canonical), slang)
        if len(target) > 1:
            # The canonical phrase itself must win over a shorter variant inside it
            # ("rumah tidak layak huni" must not become "rumah tidak layak huni huni").
            phrases[target] = target
        for variant in variants:
            key = _apply_slang(_split_words(variant), slang)
            if key and key != target:
                phrases[key] = target
    return Lexicon(
        slang=slang,
        phrases=phrases,
        stopwords=frozenset(stopwords),
        roots=frozenset(roots),
        fixed=dict(fixed),
    )


def extend_lexicon(base: Lexicon, synonyms: Mapping[str, Iterable[str]]) -> Lexicon:
    """Add a knowledge base's own `synonyms:` to the bundled lexicon."""
    if not synonyms:
        return base
    extra = make_lexicon(slang=base.slang, synonyms=synonyms, stopwords=(), roots=(), fixed={})
    return Lexicon(
        slang=base.slang,
        phrases={**base.phrases, **extra.phrases},
        stopwords=base.stopwords,
        roots=base.roots,
        fixed=base.fixed,
    )


def _apply_slang(words: Iterable[str], slang: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        out.extend(slang.get(word, (word,)))
    return tuple(out)


def stem_candidates(word: str) -> list[str]:
    """Possible roots of `word`, least stripped first (the word itself comes first)."""
    forms = [word]
    for particle in _PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= _MIN_STEM + 1:
            forms.append(word[: -len(particle)])
            break
    for form in list(forms):
        for possessive in _POSSESSIVES:
            if form.endswith(possessive) and len(form) - len(possessive) >= _MIN_STEM + 1:
                forms.append(form[: -len(possessive)])
                break
    bases = list(dict.fromkeys(forms))
    out: list[str] = list(bases)
    for base in bases:
        prefixed = [base]
        for prefix, restores in _PREFIXES:
            if base.startswith(prefix) and len(base) - len(prefix) >= _MIN_STEM:
                rest = base[len(prefix) :]
                prefixed.extend(r + rest for r in restores)
                # a second prefix layer: memper-, diper-, keber-, pember-
                for prefix2, restores2 in (("per", ("",)), ("ber", ("",)), ("ke", ("",))):
                    if rest.startswith(prefix2) and len(rest) - len(prefix2) >= _MIN_STEM:
                        prefixed.extend(r + rest[len(prefix2) :] for r in restores2)
        for form in prefixed:
            out.append(form)
            for suffix in _SUFFIXES:
                if form.endswith(suffix) and len(form) - len(suffix) >= _MIN_STEM:
                    out.append(form[: -len(suffix)])
    return list(dict.fromkeys(out))


class Normalizer:
    """Turns text into matching tokens, using a lexicon and the vocabulary of known roots.

    Stemming is vocabulary-aware: of the possible roots of a word, the shortest one that is a
    known root (bundled list, or a word that occurs bare in the knowledge base) wins. A rule-only
    stemmer maps "membuat" to "puat" and "menikah" to "ikah"; checking against real words avoids
    that while still folding "pembuatan", "dibuatkan" and "buat" together.
    """

    def __init__(self, lexicon: Lexicon, known: Iterable[str] = ()) -> None:
        self.lexicon = lexicon
        self.roots = set(lexicon.roots) | set(known)
        self._stem_cache: dict[str, str] = {}
        self._word_cache: dict[str, tuple[str, ...]] = {}
        self._content_cache: dict[str, str | None] = {}

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.update(_stem_cache={}, _word_cache={}, _content_cache={})
        return state

    def add_roots(self, words: Iterable[str]) -> None:
        self.roots.update(words)
        self._stem_cache.clear()
        self._word_cache.clear()
        self._content_cache.clear()

    def words(self, text: str) -> list[str]:
        """Slang- and phrase-normalised words, before stemming (smalltalk looks at these)."""
        return self.words_of(raw_tokens(text))

    def words_of(self, tokens: list[str]) -> list[str]:
        cache = self._word_cache
        if len(cache) > 300_000:
            cache.clear()
        for token in set(tokens).difference(cache):
            cache[token] = self._slang(self._undouble_one(token))
        words = tuple(chain.from_iterable(map(cache.__getitem__, tokens)))
        return list(self._phrases(words))

    def _known(self, word: str) -> bool:
        return word in self.roots or word in self.lexicon.slang or word in self.lexicon.stopwords

    def _slang(self, word: str) -> tuple[str, ...]:
        """Map one word through the slang list, also when it carries affixes or lost a space.

        "dibikinin" is "bikin" with colloquial affixes and "carabikin" is "cara bikin": both are
        common in chat and would otherwise be words the knowledge base has never seen.
        """
        slang = self.lexicon.slang
        mapped = slang.get(word)
        if mapped is not None:
            return mapped
        if word in self.roots or word in self.lexicon.stopwords or len(word) < 5 or word.isdigit():
            return (word,)
        for candidate in stem_candidates(word)[1:]:
            if candidate in slang and len(candidate) >= 3:
                return slang[candidate]
            if candidate in self.roots:
                return (word,)
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], word[cut:]
            if self._known(head) and self._known(tail):
                return (*slang.get(head, (head,)), *slang.get(tail, (tail,)))
        return (word,)

    def _content_word(self, word: str) -> str | None:
        stop = self.lexicon.stopwords
        if word in stop:
            return None
        stem = self.stem(word)
        return None if stem in stop else stem

    def content(self, text: str) -> list[str]:
        """Only the tokens that carry meaning, in order, duplicates removed."""
        return self.content_of_words(self.words(text))

    def content_of_words(self, words: Iterable[str]) -> list[str]:
        cache = self._content_cache
        for word in set(words).difference(cache):
            cache[word] = self._content_word(word)
        return list(dict.fromkeys(filter(None, map(cache.__getitem__, words))))

    def stem(self, word: str) -> str:
        cached = self._stem_cache.get(word)
        if cached is not None:
            return cached
        result = self.lexicon.fixed.get(word)
        if result is None:
            result = word
            if not word.isdigit() and len(word) > _MIN_STEM + 1:
                for candidate in stem_candidates(word)[1:]:
                    if candidate in self.roots and len(candidate) < len(result):
                        result = candidate
        if len(self._stem_cache) < 200_000:
            self._stem_cache[word] = result
        return result

    def _undouble_one(self, word: str) -> str:
        # "pagii", "tolongg": a doubled last letter that makes no known word is a typo.
        doubled = len(word) > 2 and word[-1] == word[-2]
        if doubled and not self._known(word) and self._known(word[:-1]):
            return word[:-1]
        return word

    def _phrases(self, words: tuple[str, ...]) -> Iterable[str]:
        phrases = self.lexicon.phrases
        starts = self.lexicon.phrase_sizes
        if starts.keys().isdisjoint(words):
            return words
        return self._replace_phrases(words, phrases, starts)

    @staticmethod
    def _replace_phrases(
        words: tuple[str, ...],
        phrases: Mapping[tuple[str, ...], tuple[str, ...]],
        starts: Mapping[str, tuple[int, ...]],
    ) -> Iterable[str]:
        out: list[str] = []
        done = 0  # words before this index are already in `out`
        positions: list[int] = []
        for word in starts.keys() & set(words):  # list.index scans in C
            at = words.index(word)
            while True:
                positions.append(at)
                try:
                    at = words.index(word, at + 1)
                except ValueError:
                    break
        for i in sorted(positions):
            if i < done:
                continue
            for size in starts[words[i]]:
                target = phrases.get(words[i : i + size])
                if target is not None:
                    out.extend(words[done:i])
                    out.extend(target)
                    done = i + size
                    break
        out.extend(words[done:])
        return out
