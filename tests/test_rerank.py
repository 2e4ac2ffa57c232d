"""The local model that tells the best few entries apart (bot.rerank), alone and in the matcher."""

from __future__ import annotations

import numpy as np
import pytest

import bot.matcher
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.rerank import LocalModel
from tests.conftest import BUNDLED_KB

MOVING = LocalModel(
    [
        [["pindah", "keluar", "daerah"], ["surat", "pindah", "keluar"], ["pindah", "ke", "luar"]],
        [["pindah", "datang"], ["lapor", "pindah", "datang"], ["penduduk", "datang"]],
        [["ktp", "hilang"]],
    ]
)
BOTH = np.array([0, 1])


def test_the_word_only_one_entry_has_decides():
    chances = MOVING.probabilities(["pindah", "datang"], BOTH)
    assert chances.sum() == pytest.approx(1.0)
    assert chances[1] > 0.55, chances


def test_a_word_both_entries_share_decides_nothing():
    chances = MOVING.probabilities(["pindah"], BOTH)
    assert abs(chances[0] - chances[1]) < 0.05, chances


def test_words_no_candidate_has_leave_the_choice_open():
    assert MOVING.probabilities(["zzqx"], BOTH).tolist() == [0.5, 0.5]
    assert MOVING.probabilities(["ktp"], BOTH).tolist() == [0.5, 0.5]
    assert MOVING.probabilities([], np.array([0, 1, 2])).tolist() == pytest.approx([1 / 3] * 3)


def test_the_candidates_order_does_not_matter():
    forward = MOVING.probabilities(["surat", "pindah", "datang"], np.array([0, 1, 2]))
    backward = MOVING.probabilities(["surat", "pindah", "datang"], np.array([2, 1, 0]))
    assert forward == pytest.approx(backward[::-1])


@pytest.mark.parametrize(
    ("message", "entry"),
    [
        # Both entries are about school enrolment; the age is what this one answers.
        (
            "anakku Juli nanti umurnya 5 th 11 bln, boleh masuk SD negeri?",
            "disdik/spmb-syarat-usia-dokumen",
        ),
        # Both are about floods; where to evacuate is this one.
        ("kalo banjir gede ngungsinya kemana ya? titik kumpulnya dmn", "bpbd/pengungsian"),
    ],
)
def test_near_twins_are_told_apart_by_the_words_that_separate_them(message, entry, monkeypatch):
    matcher = Matcher(load_knowledge(BUNDLED_KB))
    result = matcher.match(message)
    assert (result.decision, result.entry) == ("answer", entry)
    # Without the model the two entries are too close to call: the bot would have to ask.
    monkeypatch.setattr(bot.matcher, "LOCAL_SHARE", 0.0)
    without = matcher.match(message)
    assert without.decision == "suggest"
    assert without.candidates[0].entry == entry
