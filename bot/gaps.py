"""Unanswered questions grouped, so an OPD sees what to write next (`tanya kb gaps`).

Residents ask one thing in many ways ("gmn bikin akte lahir anak", "syarat akta kelahiran apa
aja"), so questions are compared after the matcher's own normalisation (slang, phrase synonyms,
stemming, stopwords), with misspelt words mended first ("kelahrian", "aank"). Each question
becomes a TF-IDF vector of its content words, weighted within its OPD: a word most of the
OPD's questions share ("syarat", "buat", and among the civil registry's, "akta") says little
about what is missing, a rarer one ("lahir", "meninggal") a lot; the matcher's generic words
weigh less again.

The questions of one OPD are grouped by average linkage: the two groups whose questions are
most similar on average (cosine) merge, until no two groups are similar enough. This is exact
(nearest-neighbour chain, `_average_linkage`) and does not depend on the order questions come
in; identical questions are handled as one. Only a very large OPD (more than MAX_ITEMS
different questions) is first cut into tight groups of near-duplicates, to keep memory bounded.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.background import bundled_background
from bot.normalize import Normalizer, bundled_lexicon, raw_tokens
from bot.privacy import mask
from bot.storage import GapQuestion

# Average cosine similarity (0-1) between the questions of two groups for them to merge.
# Chosen on tests/data/gaps_cases.yaml and checked on tests/data/gaps_check.yaml (README).
MERGE_SIMILARITY = 0.2
# Generic words (bot/data/generic.txt: "cara", "syarat", "kapan") weigh this share of their IDF.
GENERIC_WEIGHT = 0.35
# Different questions of one OPD grouped exactly; above this, near-duplicates (cosine to
# their group's centroid at least the first of PREGROUP_SIMILARITY, then the next while
# still too many) are joined first. The pairwise table takes MAX_ITEMS² × 4 bytes (36 MB).
MAX_ITEMS = 3000
PREGROUP_SIMILARITY = (0.6, 0.45, 0.3)
# Typos (see _typo_fixes): words of at least TYPO_MIN_LENGTH letters are mended; from
# TYPO_LONG letters on, two edits are allowed. An unknown word is read as a known word when it
# occurs at most TYPO_RARE times, or as a word of the questions TYPO_RATIO times as common.
TYPO_MIN_LENGTH = 4
TYPO_LONG = 8
TYPO_RARE = 2
TYPO_RATIO = 3
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Gap:
    """A group of unanswered questions of one OPD (None: questions routed to no OPD)."""

    opd: str | None
    size: int
    escalated: int
    not_helpful: int
    examples: tuple[str, ...]  # masked with bot.privacy.mask, most typical first, at most 3


def cluster_gaps(
    questions: Sequence[GapQuestion], normalizer: Normalizer | None = None
) -> list[Gap]:
    """Group questions by OPD and similarity; biggest group first, the same result every time.

    `normalizer` defaults to the bundled word lists with the background vocabulary and the
    questions' own words as stemmer roots (the matcher uses its knowledge base's words).
    """
    gaps = [
        _gap(opd, [questions[i] for i in members])
        for opd, members in group_questions(questions, normalizer)
    ]
    gaps.sort(key=_gap_order)
    return gaps


def group_questions(
    questions: Sequence[GapQuestion], normalizer: Normalizer | None = None
) -> list[tuple[str | None, list[int]]]:
    """The groups as (OPD, indexes into `questions`), each most typical question first."""
    if not questions:
        return []
    texts = [q.text for q in questions]
    norm = normalizer or _normalizer(texts)
    tokens = question_tokens(texts, norm)
    generic = _generic(norm)
    by_opd: dict[str | None, list[int]] = defaultdict(list)
    for index, question in enumerate(questions):
        by_opd[question.opd].append(index)
    out: list[tuple[str | None, list[int]]] = []
    for opd, members in by_opd.items():
        # Weights within the OPD: "akta" is rare among all questions, but among the civil
        # registry's it is everywhere, and "lahir" or "meninggal" tells its topics apart.
        weights = _weights([tokens[i] for i in members], generic)
        groups = group_similar([texts[i] for i in members], [tokens[i] for i in members], weights)
        out += [(opd, [members[k] for k in group]) for group in groups]
    return out


def day_start(value: str, timezone: str) -> dt.datetime:
    """Midnight starting a YYYY-MM-DD day in the regency's time zone (`--since`, `--until`);
    ValueError for anything else."""
    text = value.strip()
    if len(text) != 10:  # date.fromisoformat also reads 20260301 and 2026-W09-1
        raise ValueError(value)
    day = dt.date.fromisoformat(text)
    return dt.datetime.combine(day, dt.time(0), tzinfo=zoneinfo.ZoneInfo(timezone))


def _gap_order(gap: Gap) -> tuple[int, int, str, tuple[str, ...]]:
    return (-gap.size, -gap.escalated, gap.opd or "\uffff", gap.examples)


def _gap(opd: str | None, members: list[GapQuestion]) -> Gap:
    examples: list[str] = []
    seen: set[str] = set()
    for question in members:
        text = mask(" ".join(question.text.split()))
        if text.casefold() not in seen:
            seen.add(text.casefold())
            examples.append(text)
            if len(examples) == MAX_EXAMPLES:
                break
    return Gap(
        opd=opd,
        size=len(members),
        escalated=sum(q.reason == "escalated" for q in members),
        not_helpful=sum(q.reason == "not_helpful" for q in members),
        examples=tuple(examples),
    )


# --- words


def question_tokens(texts: Sequence[str], normalizer: Normalizer | None = None) -> list[list[str]]:
    """Each text's content words, normalised as the matcher does, after typos are mended."""
    norm = normalizer or _normalizer(texts)
    raw = [raw_tokens(text) for text in texts]
    known = (_dictionary() | norm.roots) if normalizer else _dictionary()
    # A word the stemmer takes back to a known root is a word too ("kelahiran": "lahir").
    base = _base_normalizer()
    vocabulary = {w for words in raw for w in words if w.isalpha() and w not in known}
    known |= {w for w in vocabulary if (root := base.stem(w)) != w and root in known}
    fixes = _typo_fixes(raw, frozenset(known))
    out = []
    for words in raw:
        mended = [fixes.get(w, w) for w in words] if fixes else words
        out.append([t for t in norm.content_of_words(norm.words_of(mended)) if not t.isdigit()])
    return out


def _normalizer(texts: Sequence[str]) -> Normalizer:
    """The bundled lexicon; stemmer roots: the background vocabulary and the words the
    questions use bare (as the matcher uses its knowledge base's words)."""
    norm = Normalizer(bundled_lexicon(), bundled_background().df.keys())
    bare: set[str] = set()
    for text in texts:
        bare.update(raw_tokens(text))
    slang = norm.lexicon.slang
    for token in bare & slang.keys():
        bare.update(slang[token])
    norm.add_roots(w for w in bare if len(w) >= 3 and not w.isdigit())
    return norm


@cache
def _base_normalizer() -> Normalizer:
    return Normalizer(bundled_lexicon(), bundled_background().df.keys())


@cache
def _dictionary() -> frozenset[str]:
    """Words tanya knows are words: the word lists and the background vocabulary."""
    lexicon = bundled_lexicon()
    words = set(lexicon.slang) | lexicon.stopwords | lexicon.roots | set(lexicon.fixed)
    for mapped in lexicon.slang.values():
        words.update(mapped)
    for phrase, target in lexicon.phrases.items():
        words.update(phrase)
        words.update(target)
    words.update(bundled_background().df)
    return frozenset(w for w in words if w.isalpha())


def _typo_fixes(raw: Sequence[list[str]], known: frozenset[str]) -> dict[str, str]:
    """Unknown words read as the word they misspell: "kelahrian", "aank", "atka" (one letter
    wrong, missing, extra or two swapped; two in words of TYPO_LONG letters or more).

    A word is mended to a known word only when it is rare itself (a term residents use often,
    "fogging", is no typo), or to a word of the questions several times as common."""
    df = Counter(w for words in raw for w in set(words))
    unknown = sorted(w for w in df if len(w) >= TYPO_MIN_LENGTH and w.isalpha() and w not in known)
    if not unknown:
        return {}
    pool = sorted(
        {w for w in known if len(w) >= TYPO_MIN_LENGTH - 1}
        | {w for w, n in df.items() if n >= 2 and len(w) >= TYPO_MIN_LENGTH - 1 and w.isalpha()}
    )
    fixes: dict[str, str] = {}
    for start in range(0, len(unknown), 512):
        rows = unknown[start : start + 512]
        distances = process.cdist(
            rows, pool, scorer=OSA.distance, score_cutoff=2, dtype=np.int32, workers=-1
        )
        for word, row in zip(rows, distances, strict=True):
            limit = 2 if len(word) >= TYPO_LONG else 1
            best: tuple[int, int, str] | None = None
            for j in np.flatnonzero(row <= limit):
                other = pool[int(j)]
                if other == word:
                    continue
                common = df[other] >= TYPO_RATIO * df[word]
                if not (common or (other in known and df[word] <= TYPO_RARE)):
                    continue
                key = (int(row[j]), -df[other], other)
                if best is None or key < best:
                    best = key
            if best is not None:
                fixes[word] = best[2]
    return fixes


@cache
def _generic_words() -> tuple[str, ...]:
    text = resources.files("bot.data").joinpath("generic.txt").read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


def _generic(norm: Normalizer) -> frozenset[str]:
    return frozenset(t for word in _generic_words() for t in norm.content(word))


def _weights(tokens: Sequence[list[str]], generic: frozenset[str]) -> dict[str, float]:
    """Smoothed IDF over the questions and the background entries (a handful of questions
    alone cannot tell that "syarat" is ordinary)."""
    background = bundled_background()
    df = Counter(t for ts in tokens for t in ts)
    total = len(tokens) + background.size
    out = {}
    for token, count in df.items():
        idf = math.log((1 + total) / (1 + count + background.df.get(token, 0))) + 1.0
        out[token] = idf * GENERIC_WEIGHT if token in generic else idf
    return out


# --- grouping


def group_similar(
    texts: Sequence[str], tokens: Sequence[list[str]], weights: dict[str, float]
) -> list[list[int]]:
    """Groups of questions (indexes into `texts`), biggest first. Within a group the most
    typical different question comes first, then the next one, and so on; repeats of a
    question (the same content words) follow after one of each."""
    units = _units(texts, tokens)
    keys = sorted(units)
    vectors = [_vector(key, weights) for key in keys]
    counts = np.array([len(units[key]) for key in keys], dtype=np.float64)
    # Only words two different questions share can make them similar.
    spread = Counter(t for key in keys for t in key)
    shared = sorted(t for t, n in spread.items() if n >= 2)
    column = {t: j for j, t in enumerate(shared)}
    items = [[u] for u in range(len(keys))]
    for threshold in PREGROUP_SIMILARITY:
        if len(items) <= MAX_ITEMS:
            break
        items = _pregroup(keys, vectors, counts, column, threshold)
    # Still too many (questions that share almost nothing): the least asked stay alone.
    items.sort(key=lambda item: (-counts[item].sum(), keys[item[0]]))
    alone = [[i] for i in range(MAX_ITEMS, len(items))]
    sums = [_sum([(vectors[u], counts[u]) for u in item], column) for item in items[:MAX_ITEMS]]
    sizes = np.array([counts[item].sum() for item in items[:MAX_ITEMS]], dtype=np.float64)
    merged = _average_linkage(sums, sizes, MERGE_SIMILARITY) + alone
    groups = []
    for group in merged:
        members = [u for i in group for u in items[i]]
        total: Counter[str] = Counter()
        for u in members:
            for t, w in vectors[u].items():
                total[t] += w * counts[u]

        def typical(u: int, total: Counter[str] = total) -> tuple[float, float, tuple[str, ...]]:
            score = sum(w * total[t] for t, w in vectors[u].items())
            return (-score, -counts[u], keys[u])

        ordered = [units[keys[u]] for u in sorted(members, key=typical)]
        groups.append([m[0] for m in ordered] + [i for m in ordered for i in m[1:]])
    groups.sort(key=lambda g: (-len(g), g))
    return groups


def _units(texts: Sequence[str], tokens: Sequence[list[str]]) -> dict[tuple[str, ...], list[int]]:
    """Questions with the same content words, as one. Each unit lists its questions with the
    most frequent wording first. A question without content words ("tolong pak") is a unit of
    its own, keyed by its wording, so such questions do not pile up into one group."""
    units: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, words in enumerate(tokens):
        key = tuple(sorted(set(words))) or ("", " ".join(texts[index].casefold().split()))
        units[key].append(index)
    for members in units.values():
        wording = Counter(" ".join(texts[i].casefold().split()) for i in members)
        members.sort(key=lambda i: (-wording[" ".join(texts[i].casefold().split())], texts[i], i))
    return units


def _vector(key: tuple[str, ...], weights: dict[str, float]) -> dict[str, float]:
    if key and key[0] == "":
        return {}
    length = math.sqrt(sum(weights[t] ** 2 for t in key)) or 1.0
    return {t: weights[t] / length for t in key}


def _sum(
    parts: list[tuple[dict[str, float], float]], column: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The sum of (vector, count) over the shared columns, as (column ids, values)."""
    total: dict[int, float] = defaultdict(float)
    for vector, count in parts:
        for t, w in vector.items():
            j = column.get(t)
            if j is not None:
                total[j] += w * count
    ids = np.array(sorted(total), dtype=np.int64)
    return ids, np.array([total[j] for j in ids], dtype=np.float64)


def _average_linkage(
    sums: list[tuple[np.ndarray, np.ndarray]], sizes: np.ndarray, threshold: float
) -> list[list[int]]:
    """Average-linkage groups of items (each a sum of unit vectors and its question count),
    merged while the mean cosine between two groups' questions is at least `threshold`.

    The mean cosine of groups A and B is sum(A)·sum(B) / (|A| |B|): the table of dot products
    is kept and updated by adding rows on a merge. The nearest-neighbour chain finds the same
    merges as always joining the closest pair, in about k² steps instead of k³; a group whose
    closest other group is below the threshold can never merge again (a merged group is never
    closer to it than the closer of its parts), so it is final.
    """
    k = len(sums)
    dots = np.zeros((k, k), dtype=np.float32)
    by_column: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for i, (ids, values) in enumerate(sums):
        for j, v in zip(ids.tolist(), values.tolist(), strict=True):
            by_column[j].append((i, v))
    for entries in by_column.values():
        if len(entries) > 1:
            rows = np.array([i for i, _ in entries], dtype=np.int64)
            vals = np.array([v for _, v in entries], dtype=np.float32)
            dots[np.ix_(rows, rows)] += np.outer(vals, vals)
    sizes = sizes.astype(np.float64).copy()
    active = np.ones(k, dtype=bool)
    members: list[list[int]] = [[i] for i in range(k)]
    done: list[list[int]] = []
    chain: list[int] = []
    start = 0
    while True:
        if not chain:
            while start < k and not active[start]:
                start += 1
            if start == k:
                break
            chain.append(start)
        a = chain[-1]
        sims = dots[a] / (sizes[a] * sizes)
        sims[~active] = -np.inf
        sims[a] = -np.inf
        b = int(np.argmax(sims))
        if len(chain) > 1 and sims[chain[-2]] >= sims[b]:
            b = chain[-2]
        if not np.isfinite(sims[b]) or sims[b] < threshold:
            active[a] = False  # alone in the chain (see above): final
            done.append(members[a])
            chain.pop()
            continue
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            keep, gone = min(a, b), max(a, b)
            dots[keep] += dots[gone]
            dots[:, keep] += dots[:, gone]
            sizes[keep] += sizes[gone]
            members[keep] += members[gone]
            active[gone] = False
            continue
        chain.append(b)
    return done


def _pregroup(
    keys: list[tuple[str, ...]],
    vectors: list[dict[str, float]],
    counts: np.ndarray,
    column: dict[str, int],
    threshold: float,
) -> list[list[int]]:
    """Near-duplicates joined in one pass (a question joins the group whose centroid it is
    closest to if that is at least `threshold`, else starts one), so average linkage gets
    fewer items. Most repeated questions go first; the order is fixed by their words."""
    width = max(len(column), 1)
    capacity = 256
    centroid = np.zeros((capacity, width), dtype=np.float32)
    squared = np.zeros(capacity, dtype=np.float64)
    groups: list[list[int]] = []
    for u in sorted(range(len(keys)), key=lambda u: (-counts[u], keys[u])):
        shared = [(column[t], w) for t, w in vectors[u].items() if t in column]
        ids = np.array([j for j, _ in shared], dtype=np.int64)
        w = np.array([v for _, v in shared], dtype=np.float32)
        best, dot = -1, 0.0
        if groups and len(ids):
            dots = centroid[: len(groups), ids] @ w
            sims = dots / np.sqrt(np.maximum(squared[: len(groups)], 1e-12))
            best = int(np.argmax(sims))
            if sims[best] < threshold:
                best = -1
            else:
                dot = float(dots[best])
        if best < 0:
            if len(groups) == capacity:
                capacity *= 2
                centroid = np.vstack([centroid, np.zeros_like(centroid)])
                squared = np.concatenate([squared, np.zeros_like(squared)])
            best = len(groups)
            groups.append([])
        c = float(counts[u])
        # |s + c·v|² = |s|² + 2c(s·v) + c², as |v| = 1 (a word of v outside the shared
        # columns is in no other question, so it adds nothing to s·v).
        squared[best] += 2 * c * dot + c * c
        centroid[best, ids] += c * w
        groups[best].append(u)
    return groups
