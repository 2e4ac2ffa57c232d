"""Find questions in different entries that the matcher would confuse (`tanya kb check` warnings).

Two checks, both through the matcher's own normalisation so the warning reflects what the bot
will actually do: near-identical wording after normalisation, and a question of one entry that
the matcher scores at least as high for another entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from bot.i18n import t
from bot.knowledge import Entry, KnowledgeBase, Problem
from bot.matcher import Matcher

SIMILAR_WORDING = 90.0
MAX_PAIRWISE_QUESTIONS = 6000


@dataclass(frozen=True)
class _Question:
    entry: Entry
    text: str
    normalised: str


def similar_question_problems(kb: KnowledgeBase, matcher: Matcher | None = None) -> list[Problem]:
    matcher = matcher or Matcher(kb)
    # Near-identical wording after normalisation, about the same topic words: "Bagaimana cara
    # membuat KIA?" and "Bagaimana cara membuat NIB?" share most words but no topic.
    questions = [
        _Question(entry, q, " ".join(matcher.normalizer.content(q)))
        for entry in kb.entries
        for q in entry.questions
    ]
    topics = [{t for t in q.normalised.split() if t not in matcher.generic} for q in questions]
    pairs: dict[tuple[str, str], tuple[_Question, _Question]] = {}

    if 1 < len(questions) <= MAX_PAIRWISE_QUESTIONS:
        texts = [q.normalised for q in questions]
        scores = cdist(
            texts, texts, scorer=fuzz.token_sort_ratio, score_cutoff=SIMILAR_WORDING, workers=-1
        )
        rows, cols = scores.nonzero()
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            a, b = questions[i], questions[j]
            same_topic = topics[i] == topics[j] and topics[i]
            if i < j and a.entry.uid != b.entry.uid and same_topic:
                pairs.setdefault(_key(a.entry, b.entry), (a, b))

    by_uid = {e.uid: e for e in kb.entries}
    for question in questions:
        result = matcher.match(question.text)
        top = result.candidates[0] if result.candidates else None
        if top is None or top.entry == question.entry.uid:
            continue
        # The OPD's own wording ranks another entry first: residents will not fare better.
        other = by_uid[top.entry]
        best = max(other.questions, key=lambda q: fuzz.token_sort_ratio(q, question.text))
        pairs.setdefault(_key(question.entry, other), (question, _Question(other, best, "")))

    problems = []
    for a, b in pairs.values():
        problems.append(
            Problem(
                "warning",
                a.entry.file or kb.opds[a.entry.opd_id].file,  # type: ignore[arg-type]
                a.entry.line,
                t(
                    "kb.similar",
                    question=a.text,
                    other_question=b.text,
                    other=b.entry.uid,
                    other_file=b.entry.file.name if b.entry.file else "?",
                    other_line=b.entry.line,
                ),
                a.entry.uid,
            )
        )
    return problems


def _key(a: Entry, b: Entry) -> tuple[str, str]:
    return (a.uid, b.uid) if a.uid < b.uid else (b.uid, a.uid)
