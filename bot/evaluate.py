"""Measure the matcher on labelled cases (`tanya eval`).

Cases are `{q: message, expect: "opd/entry" | null | smalltalk}`; the metrics are the ones the
project's targets are stated in (see README), so a regression shows up as a number, not a hunch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.matcher import Matcher, MatchResult

SMALLTALK = "smalltalk"


class CasesError(Exception):
    """The case file cannot be used; the message says where."""


@dataclass(frozen=True)
class Case:
    q: str
    expect: str | None  # "opd/entry", None (must not be answered) or "smalltalk"


@dataclass(frozen=True)
class Miss:
    case: Case
    result: MatchResult
    kind: str  # wrong_answer | not_answered | not_escalated | not_smalltalk


@dataclass
class Report:
    total: int = 0
    in_scope: int = 0
    null_cases: int = 0
    smalltalk_cases: int = 0
    answered_right: int = 0
    resolved_at_3: int = 0
    wrong_answers: int = 0
    escalated_null: int = 0
    smalltalk_right: int = 0
    misses: list[Miss] = field(default_factory=list)

    @staticmethod
    def _ratio(a: int, b: int) -> float:
        return round(a / b, 4) if b else 0.0

    def metrics(self) -> dict[str, float | int]:
        return {
            "auto_answer_correct": self._ratio(self.answered_right, self.in_scope),
            "resolved_at_3": self._ratio(self.resolved_at_3, self.in_scope),
            "wrong_answer_rate": self._ratio(self.wrong_answers, self.total),
            "oos_escalated": self._ratio(self.escalated_null, self.null_cases),
            "smalltalk_ok": self._ratio(self.smalltalk_right, self.smalltalk_cases),
            "cases": self.total,
            "in_scope": self.in_scope,
            "null": self.null_cases,
            "smalltalk": self.smalltalk_cases,
        }


def load_cases(path: Path) -> list[Case]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CasesError(f"{path}: cannot read cases: {exc}") from None
    if not isinstance(data, list):
        raise CasesError(f"{path}: expected a YAML list of {{q: ..., expect: ...}}")
    cases = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict) or "q" not in item or "expect" not in item:
            raise CasesError(f"{path}: case {number} needs both 'q' and 'expect'")
        if item["q"] is None:
            raise CasesError(f"{path}: case {number} has an empty 'q'")
        expect = item["expect"]
        cases.append(Case(str(item["q"]), None if expect is None else str(expect)))
    return cases


def check_expectations(cases: Iterable[Case], known: set[str]) -> None:
    """A typo in `expect` would silently count as a miss; name the unknown ids instead."""
    unknown = sorted({c.expect for c in cases if c.expect not in (None, SMALLTALK)} - known)
    if unknown:
        raise CasesError(f"expect names entries that are not in the knowledge base: {unknown}")


def evaluate(matcher: Matcher, cases: Iterable[Case]) -> Report:
    report = Report()
    for case in cases:
        result = matcher.match(case.q)
        report.total += 1
        if case.expect is None:
            report.null_cases += 1
            if result.decision == "escalate":
                report.escalated_null += 1
            if result.decision == "answer":
                report.wrong_answers += 1
                report.misses.append(Miss(case, result, "wrong_answer"))
            elif result.decision != "escalate":
                report.misses.append(Miss(case, result, "not_escalated"))
        elif case.expect == SMALLTALK:
            report.smalltalk_cases += 1
            if result.decision == "smalltalk":
                report.smalltalk_right += 1
            else:
                if result.decision == "answer":
                    report.wrong_answers += 1
                report.misses.append(Miss(case, result, "not_smalltalk"))
        else:
            report.in_scope += 1
            if result.decision == "answer" and result.entry == case.expect:
                report.answered_right += 1
                report.resolved_at_3 += 1
                continue
            if result.decision == "answer":
                report.wrong_answers += 1
                report.misses.append(Miss(case, result, "wrong_answer"))
                continue
            if result.decision == "suggest" and any(
                c.entry == case.expect for c in result.candidates
            ):
                report.resolved_at_3 += 1
            report.misses.append(Miss(case, result, "not_answered"))
    return report
