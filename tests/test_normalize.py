"""Normalisation: residents' spelling and the OPDs' spelling meet in the same tokens."""

from __future__ import annotations

import pytest

from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.normalize import clean, stem_candidates
from tests.conftest import BUNDLED_KB


@pytest.fixture(scope="module")
def norm():
    return Matcher(load_knowledge(BUNDLED_KB)).normalizer


def content(norm, text):
    return norm.content(text)


def test_clean_folds_case_repeats_invisible_characters_and_urls():
    assert clean("KTP HILANGGGG\u200b!!") == "ktp hilang"
    assert clean("lihat https://contoh.go.id/x ya") == "lihat ya"
    assert clean("umur 17thn") == "umur 17 thn"
    assert clean("surat2 dan surat-surat") == "surat dan surat"
    assert clean("Akté") == "akte"


@pytest.mark.parametrize(
    ("resident", "opd"),
    [
        ("gmn bikin ktp", "bagaimana cara membuat KTP"),
        ("syarat bikin akte lahir", "syarat pembuatan akta kelahiran"),
        ("e-ktp sy ilang", "KTP elektronik saya hilang"),
        ("ktp el rusak", "KTP-el rusak"),
        ("surat pindah", "SKPWNI"),
        ("kartu kluarga", "KK"),
        ("KARTU KELUARGA", "kk"),
    ],
)
def test_resident_and_opd_wording_share_their_topic_tokens(norm, resident, opd):
    ours = set(content(norm, opd)) - {"bagaimana", "cara", "syarat"}
    theirs = set(content(norm, resident))
    assert ours <= theirs, (ours, theirs)


def test_kk_means_kartu_keluarga_not_kakak(norm):
    assert "kk" in content(norm, "kk sy hilang")
    assert content(norm, "kak") == []  # "kak" is how residents address the admin


def test_politeness_padding_is_dropped(norm):
    tokens = content(
        norm, "Assalamualaikum pak, mohon maaf mau tanya, syarat ktp apa ya? terima kasih"
    )
    assert "ktp" in tokens and "syarat" in tokens
    assert not {"assalamualaikum", "pak", "mohon", "maaf", "terima", "kasih"} & set(tokens)


def test_missing_space_and_colloquial_affixes(norm):
    assert content(norm, "carabikin ktp")[:2] == ["cara", "buat"]
    assert "buat" in content(norm, "dibikinin")


def test_doubled_last_letter_is_a_typo_when_it_makes_no_word(norm):
    assert norm.words("halooo minnn") == ["halo", "min"]


def test_english_is_mapped_to_indonesian(norm):
    assert {"hilang", "ktp"} <= set(content(norm, "I lost my KTP"))


def test_stemming_folds_affixes_only_onto_known_roots(norm):
    assert norm.stem("pembuatan") == norm.stem("dibuatkan") == "buat"
    assert norm.stem("menikah") == "nikah"
    assert norm.stem("meninggal") == "meninggal"  # not "tinggal"
    assert "buat" in stem_candidates("membuat")


def test_roman_numerals_survive_repeat_collapsing():
    assert clean("BPJS kelas III") == "bpjs kelas 3"
    assert clean("kelas II") != clean("kelas III")
