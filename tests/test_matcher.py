"""Matcher decisions on the bundled knowledge: how residents write, and what must not happen."""

from __future__ import annotations

import pytest

from bot.config import MatcherConfig
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from tests.conftest import BUNDLED_KB


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_knowledge(BUNDLED_KB), MatcherConfig())


@pytest.mark.parametrize(
    ("message", "entry"),
    [
        (
            "Assalamualaikum pak, mau tanya syarat bikin KTP pertama kali apa aja ya? makasih",
            "disdukcapil/ktp-el-baru",
        ),
        ("KTP SAYA HILANG GIMANA NGURUSNYA", "disdukcapil/ktp-el-hilang-rusak"),
        ("ktp sy ilang dicopet di pasar, ngurusnya gmn", "disdukcapil/ktp-el-hilang-rusak"),
        ("how do I get a birth certificate for my baby", "disdukcapil/akta-kelahiran"),
        ("surat pindah ke luar kota gmn", "disdukcapil/pindah-keluar"),
        ("jalan depan rumah rusak parah berlubang", "dpupr/jalan-rusak"),
        ("ada sarang tawon di atap rumah", "satpolpp-damkar/evakuasi-sarang-tawon"),
    ],
)
def test_clear_questions_in_informal_indonesian_are_answered(matcher, message, entry):
    result = matcher.match(message)
    assert (result.decision, result.entry) == ("answer", entry)
    assert result.opd == entry.split("/")[0]
    assert result.candidates[0].entry == entry


@pytest.mark.parametrize(
    ("message", "entry"),
    [
        ("gmn cr bikin akte lahir anak sy", "disdukcapil/akta-kelahiran"),
        (
            "Pak, anak saya baru lahir minggu lalu di bidan desa. Suami kerja di luar kota. "
            "Untuk akta kelahirannya bawa apa saja ya?",
            "disdukcapil/akta-kelahiran",
        ),
        ("pajak motor bayar dmn", "bapenda/pajak-kendaraan-samsat"),
    ],
)
def test_close_calls_put_the_right_entry_first(matcher, message, entry):
    """Near sibling entries the bot may offer choices, but the right one comes first."""
    result = matcher.match(message)
    assert result.decision in {"answer", "suggest"}
    assert result.candidates[0].entry == entry
    assert result.opd == entry.split("/")[0]


@pytest.mark.parametrize("message", ["bansos", "daftar sekolah anak sd", "kk"])
def test_vague_questions_get_choices_not_a_guess(matcher, message):
    result = matcher.match(message)
    assert result.decision == "suggest"
    assert result.entry is None
    assert 1 <= len(result.candidates) <= 3
    assert [c.score for c in result.candidates] == sorted(
        (c.score for c in result.candidates), reverse=True
    )


@pytest.mark.parametrize(
    "message",
    [
        "jual motor beat 2019 murah, minat chat",
        "pacar sy selingkuh, pengen curhat aja",
        "resep rendang yang empuk gimana",
        "hasil pertandingan persib semalam berapa",
    ],
)
def test_off_topic_messages_are_escalated_never_answered(matcher, message):
    assert matcher.match(message).decision == "escalate"


def test_escalation_routes_to_the_named_opd(matcher):
    result = matcher.match("dinsos, tetangga sy nenek sebatang kara tidak ada yg ngurus")
    assert result.decision != "answer" or result.opd == "dinsos"
    assert result.opd == "dinsos"


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("halo min", "greeting"),
        ("Assalamualaikum", "greeting"),
        ("mau tanya dong kak", "greeting"),
        ("makasih banyak min infonya 🙏", "thanks"),
        ("terima kasih", "thanks"),
        ("siapa kamu?", "identity"),
        ("ini bot ya", "identity"),
        ("dadah, sampai jumpa", "goodbye"),
        ("ok siap", "ack"),
        ("👍", "ack"),
    ],
)
def test_smalltalk_gets_a_canned_reply(matcher, message, category):
    result = matcher.match(message)
    assert (result.decision, result.smalltalk, result.entry) == ("smalltalk", category, None)


def test_a_greeting_around_a_question_is_not_smalltalk(matcher):
    result = matcher.match("selamat pagi min, syarat bikin kk baru apa ya, terima kasih")
    assert result.decision in {"answer", "suggest"}
    assert "disdukcapil/kk-baru" in [c.entry for c in result.candidates]


def test_aid_alone_is_a_question_not_thanks(matcher):
    assert matcher.match("bantuan").decision == "suggest"


def test_another_institutions_service_is_not_answered_with_a_look_alike(write_kb):
    kb = load_knowledge(
        write_kb(
            {
                "disdukcapil.yaml": """\
                opd: {id: disdukcapil, name: Disdukcapil}
                entries:
                  - id: ktp-el-baru
                    questions: [Bagaimana cara membuat KTP elektronik pertama kali?]
                    keywords: [ktp, biaya]
                    answer: Bawa KK. Gratis, tidak dipungut biaya.
                  - id: akta-kelahiran
                    questions: [Apa syarat membuat akta kelahiran?]
                    answer: Surat keterangan lahir dan KK.
                """
            }
        )
    )
    matcher = Matcher(kb)
    assert matcher.match("bikin ktp pertama kali bayar gk").decision == "answer"
    for message in ("bikin paspor bayar brp, gratis kyk ktp gak?", "syarat nikah di kua apa"):
        assert matcher.match(message).decision == "escalate", message


def test_stricter_thresholds_turn_answers_into_suggestions():
    kb = load_knowledge(BUNDLED_KB)
    strict = Matcher(kb, MatcherConfig(answer_threshold=100, suggest_threshold=10))
    result = strict.match("ktp hilang gimana")
    assert result.decision == "suggest"
    assert result.candidates[0].entry == "disdukcapil/ktp-el-hilang-rusak"


def test_kb_synonyms_extend_the_matcher(write_kb):
    text = """\
    opd: {id: dlh, name: Dinas Lingkungan Hidup}
    synonyms:
      tps: [bak sampah umum, tempat buang sampah]
    entries:
      - id: tps
        questions: [Di mana lokasi TPS terdekat?]
        answer: Daftar TPS ada di situs DLH.
      - id: bank-sampah
        questions: [Bagaimana cara mendirikan bank sampah?]
        answer: Hubungi DLH.
    """
    matcher = Matcher(load_knowledge(write_kb({"dlh.yaml": text})))
    assert "tps" in matcher.normalizer.content("bak sampah umum")
    assert matcher.match("bak sampah umum terdekat dmn").entry == "dlh/tps"


def test_zero_thresholds_never_answer_with_nothing_in_common():
    zero = Matcher(
        load_knowledge(BUNDLED_KB),
        MatcherConfig(answer_threshold=0, answer_margin=0, suggest_threshold=0),
    )
    result = zero.match("zzqx blorf")
    assert result.decision == "escalate" and result.entry is None


def test_every_smalltalk_category_has_a_reply():
    from bot.i18n import t
    from bot.smalltalk import bundled_categories

    for category in bundled_categories():
        assert t(f"smalltalk.{category.name}", regency="X")


def test_scores_stay_within_0_and_100_with_the_keyword_bonus(matcher):
    result = matcher.match("uji kir kendaraan")
    assert result.entry == "dishub/uji-kir"
    assert all(0 <= c.score <= 100 for c in result.candidates)


def test_a_huge_message_is_cut_to_telegrams_limit(matcher):
    result = matcher.match("ktp hilang " + "bla " * 50_000)
    assert result.decision in {"answer", "suggest", "escalate"}
