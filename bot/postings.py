"""Inverted lists (token -> the documents that contain it), the matcher's index structure."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def postings(documents: Iterable[Iterable[str]]) -> dict[str, np.ndarray]:
    """Inverted lists token -> sorted document numbers, grouped by numpy, not by list appends.

    Built with one pass over the tokens and one stable sort: at 10,000 entries this runs while
    the rest of the compiled knowledge is already in memory, so its temporary arrays set the
    process's peak memory (benchmarks/bench_matcher.py).
    """
    ids: dict[str, int] = {}
    tokens: list[int] = []
    lengths: list[int] = []
    for document in documents:
        before = len(tokens)
        tokens.extend(ids.setdefault(token, len(ids)) for token in document)
        lengths.append(len(tokens) - before)
    if not tokens:
        return {}
    flat = np.asarray(tokens, dtype=np.int32)
    del tokens
    docs = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    # Documents are numbered in order, so a stable sort by token keeps each list sorted.
    order = np.argsort(flat, kind="stable")
    flat, docs = flat[order], docs[order]
    del order
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    names = list(ids)
    return {
        names[int(flat[s])]: group
        for s, group in zip(starts, np.split(docs, starts[1:]), strict=True)
    }
