"""Guided dialogues: a fixed series of questions, each answered by typing, with back and cancel.

The formal request (/permohonan) and the objection (/keberatan) ask a resident several things in
turn. This module knows only the order of the steps and how an answer is read; bot.ppid stores
the state (so a restart loses nothing), sends the questions and acts on the result. Every step
can be answered by typing: buttons are a shortcut for the choices, "0"/"kembali" goes back and
"batal" cancels, at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BACK_WORDS = frozenset({"0", "kembali", "/kembali", "balik", "sebelumnya"})
CANCEL_WORDS = frozenset({"batal", "/batal", "batalkan", "cancel", "stop"})

Data = Mapping[str, Any]


class Invalid(Exception):
    """An answer a step cannot take; `key` names the locale text that says what to type."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class Choice:
    value: str
    label: str  # locale key
    words: tuple[str, ...] = ()  # typed words that also pick it (folded)
    literal: bool = False  # `label` is shown as it is (e.g. a registration number)


@dataclass(frozen=True)
class Step:
    name: str
    prompt: str  # locale key; formatted with the data gathered so far
    parse: Callable[[str, Data], str] | None = None  # free text; raises Invalid
    choices: tuple[Choice, ...] = ()  # typed as 1..n, or one of their words
    # Offered as "1" (e.g. the Telegram name, or the question the resident already wrote).
    suggestion: Callable[[Data], str | None] | None = None
    when: Callable[[Data], bool] = field(default=lambda _data: True)

    def suggested(self, data: Data) -> str | None:
        return self.suggestion(data) if self.suggestion is not None else None


def applicable(steps: Sequence[Step], data: Data) -> list[Step]:
    return [s for s in steps if s.when(data)]


def first(steps: Sequence[Step], data: Data) -> Step:
    return applicable(steps, data)[0]


def find(steps: Sequence[Step], name: str) -> Step | None:
    return next((s for s in steps if s.name == name), None)


def following(steps: Sequence[Step], current: Step, data: Data) -> Step | None:
    """The next step that applies after `current`, with the answers so far; None: done."""
    names = [s.name for s in steps]
    for step in steps[names.index(current.name) + 1 :]:
        if step.when(data):
            return step
    return None


def preceding(steps: Sequence[Step], current: Step, data: Data) -> Step | None:
    names = [s.name for s in steps]
    for step in reversed(steps[: names.index(current.name)]):
        if step.when(data):
            return step
    return None


def position(steps: Sequence[Step], current: Step, data: Data) -> tuple[int, int]:
    """(number of this step, number of steps) for "Langkah 2 dari 5"."""
    shown = applicable(steps, data)
    names = [s.name for s in shown]
    return (names.index(current.name) + 1 if current.name in names else 1), len(shown)


def is_back(text: str) -> bool:
    return fold(text).strip(" .!") in BACK_WORDS


def is_cancel(text: str) -> bool:
    return fold(text).strip(" .!") in CANCEL_WORDS


def read(step: Step, text: str, data: Data) -> str:
    """The value an answer gives this step; Invalid when it gives none."""
    typed = text.strip()
    if step.choices:
        folded = fold(typed).strip(" .#)")
        if folded.isdecimal() and 1 <= int(folded) <= len(step.choices):
            return step.choices[int(folded) - 1].value
        for choice in step.choices:
            if folded == choice.value or folded in choice.words:
                return choice.value
        raise Invalid("dialogue.bad_choice", numbers=_numbers(len(step.choices)))
    suggestion = step.suggested(data)
    if suggestion and fold(typed).strip(" .#)") == "1":
        return suggestion
    assert step.parse is not None, f"step {step.name} has neither choices nor a parser"
    return step.parse(typed, data)


def fold(text: str) -> str:
    """Lower-case with single spaces: how typed commands and choices are compared."""
    return " ".join(text.casefold().split())


def _numbers(count: int) -> str:
    return "1" if count == 1 else f"1-{count}"
