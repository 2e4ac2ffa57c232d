"""Tell apart the few entries a message could mean, by the words that separate them.

The coverage score (bot.matcher) rates each entry on its own: how much of the message it
explains. It cannot see that "pindah" is in both the moving-out and the moving-in entry while
"datang" is in one only, so entries that share a topic score alike, the margin between them is
small, and the bot asks even when the message says which one it means.

For the best few entries of a message, `LocalModel` fits a small softmax model at question time
on those entries' own texts (each question, the keywords and the answer are one example each),
with only the message's words as features. It learns which of the message's words separate
these entries, and the matcher blends its probabilities into their scores. The model has a
handful of features and a few dozen examples, so fitting it is a few hundred small numpy
operations (about 0.2 ms); it needs no training data beyond the knowledge base, and no model
file. Its settings were chosen on the labelled sets with each set left out in turn (README,
"Matcher quality"); nearby settings gave the same results.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.postings import postings

ITERATIONS = 15
LEARNING_RATE = 2.0
L2 = 1.0


class LocalModel:
    """Each entry's examples as token lists; `probabilities` fits and applies the model."""

    def __init__(self, examples: Sequence[Sequence[Sequence[str]]]) -> None:
        # Examples of entry i are numbers starts[i]..starts[i+1]-1; inverted lists map a token to
        # the (sorted) examples that contain it, so a message's matrix is built by lookups.
        counts = np.fromiter((len(e) for e in examples), dtype=np.int64, count=len(examples))
        self.starts = np.concatenate(([0], np.cumsum(counts)))
        self.postings = postings(tokens for entry in examples for tokens in entry)

    def probabilities(self, tokens: Sequence[str], candidates: np.ndarray) -> np.ndarray:
        """How likely the message means each candidate entry, given only these entries."""
        k = len(candidates)
        columns = [self.postings[t] for t in dict.fromkeys(tokens) if t in self.postings]
        lo, hi = self.starts[candidates], self.starts[candidates + 1]
        sizes = hi - lo
        if not columns or k < 2 or not sizes.all():
            return np.full(k, 1.0 / max(k, 1))
        rows = np.repeat(lo - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
        x = np.empty((len(rows), len(columns)))
        for j, posting in enumerate(columns):
            at = np.minimum(np.searchsorted(posting, rows), len(posting) - 1)
            x[:, j] = posting[at] == rows
        present = x.any(axis=0)
        if not present.any():
            return np.full(k, 1.0 / k)
        x = x[:, present]
        # Words in fewer of these examples tell more, as in IDF; the message holds each once.
        idf = np.log((len(rows) + 1.0) / (x.sum(axis=0) + 1.0))
        x *= idf
        n = len(rows)
        target = np.zeros((n, k))
        target[np.arange(n), np.repeat(np.arange(k), sizes)] = 1.0
        # Plain gradient descent from zero for a fixed number of steps: stopping early keeps
        # the model from trusting one word completely, which matters with this few examples.
        w = np.zeros((x.shape[1], k))
        b = np.zeros(k)
        for _ in range(ITERATIONS):
            z = x @ w + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p -= target
            w -= LEARNING_RATE * (x.T @ p + L2 * w) / n
            b -= LEARNING_RATE * p.sum(axis=0) / n
        z = idf @ w + b
        z = np.exp(z - z.max())
        return z / z.sum()
