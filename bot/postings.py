"""Inverted lists (token -> the documents that contain it), the matcher's index structure."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from itertools import chain

import numpy as np


def postings(documents: Iterable[Collection[str]]) -> dict[str, np.ndarray]:
    """Inverted lists token -> sorted document numbers, grouped by numpy, not by list appends.

    C-level passes over the tokens and one stable sort: at 10,000 entries this runs while
    the rest of the compiled knowledge is already in memory, so its temporary arrays set the
    process's peak memory (benchmarks/bench_matcher.py).
    """
    documents = documents if isinstance(documents, list) else list(documents)
    names = list(set().union(*documents)) if documents else []
    if not names:
        return {}
    ids = {name: i for i, name in enumerate(names)}
    lengths = np.fromiter(map(len, documents), dtype=np.int64, count=len(documents))
    flat = np.fromiter(
        map(ids.__getitem__, chain.from_iterable(documents)),
        dtype=np.int32,
        count=int(lengths.sum()),
    )
    docs = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    # Documents are numbered in order, so a stable sort by token keeps each list sorted.
    order = np.argsort(flat, kind="stable")
    flat, docs = flat[order], docs[order]
    del order
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    return {
        names[int(flat[s])]: group
        for s, group in zip(starts, np.split(docs, starts[1:]), strict=True)
    }
