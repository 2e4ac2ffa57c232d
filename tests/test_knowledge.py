"""The knowledge loader: every problem names file, line, entry and what to do."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.knowledge import KnowledgeError, check_knowledge, load_knowledge
from tests.conftest import BUNDLED_KB, PUBLIC_EVAL, VALID_OPD


def errors_of(folder):
    kb, problems = check_knowledge(folder)
    return kb, [p for p in problems if p.severity == "error"], problems


def test_the_documented_shape_loads(write_kb):
    kb = load_knowledge(write_kb({"disdukcapil.yaml": VALID_OPD}))
    assert [e.uid for e in kb.entries] == ["disdukcapil/ktp-el-baru", "disdukcapil/akta-kelahiran"]
    entry = kb.entry("disdukcapil/ktp-el-baru")
    assert entry.updated == dt.date(2024, 7, 25)
    assert entry.keywords == ("ktp", "e-ktp", "ktp-el")
    assert entry.links == ("https://example.org/ktp",)
    assert entry.line == 6
    assert kb.opds["disdukcapil"].contact.startswith("Jl. Contoh")


def test_bundled_and_public_knowledge_load_cleanly():
    for folder in (BUNDLED_KB, PUBLIC_EVAL / "kb"):
        kb, errors, _ = errors_of(folder)
        assert errors == [], [p.render() for p in errors]
        assert kb is not None


def test_bundled_sample_is_big_enough():
    kb = load_knowledge(BUNDLED_KB)
    assert len(kb.opds) >= 8
    assert len(kb.entries) >= 80
    assert all(opd.contact for opd in kb.opds.values())


def test_tab_indentation_names_the_line(write_kb):
    text = VALID_OPD.replace("    questions:", "\tquestions:", 1)
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert [(e.line, "Tab" in e.message) for e in errors] == [(7, True)]
    assert errors[0].file.name == "disdukcapil.yaml"


def test_bad_indentation(write_kb):
    text = VALID_OPD.replace("    keywords: [ktp", "   keywords: [ktp", 1)
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1
    assert errors[0].line in (9, 10)
    assert "spasi" in errors[0].message


def test_unclosed_quote_points_at_the_opening_line(write_kb):
    text = VALID_OPD.replace(
        'contact: "Jl. Contoh No. 1, Senin-Jumat 08.00-15.00"', 'contact: "Jl. Contoh'
    )
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1
    assert errors[0].line == 4
    assert "kutip" in errors[0].message


def test_unquoted_colon_in_text(write_kb):
    text = VALID_OPD.replace(
        "answer: Surat keterangan lahir, KK, buku nikah. Gratis.",
        "answer: Syarat: surat keterangan lahir: KK",
    )
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1 and errors[0].line == 17
    assert "kutip" in errors[0].message


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("    answer: Surat keterangan lahir, KK, buku nikah. Gratis.\n", "", "answer"),
        ("      - Apa syarat membuat akta kelahiran anak?\n", "", "questions"),
        ("  - id: akta-kelahiran\n    questions:", "  - questions:", "id"),
    ],
)
def test_missing_or_empty_fields_name_the_field(write_kb, old, new, key):
    text = VALID_OPD.replace(old, new)
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1, [e.render() for e in errors]
    assert f"'{key}'" in errors[0].message
    assert errors[0].line is not None


def test_empty_answer_is_an_error_naming_the_entry(write_kb):
    text = VALID_OPD.replace(
        "answer: Surat keterangan lahir, KK, buku nikah. Gratis.", 'answer: ""'
    )
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert [(e.entry_id, e.line) for e in errors] == [("akta-kelahiran", 17)]


def test_duplicate_entry_ids_in_one_file(write_kb):
    text = VALID_OPD.replace("id: akta-kelahiran", "id: ktp-el-baru")
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1
    assert errors[0].line == 14 and "baris 6" in errors[0].message


def test_duplicate_opd_ids_across_files(write_kb):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD, "capil.yaml": VALID_OPD})
    _, errors, _ = errors_of(folder)
    assert len(errors) == 1
    assert "disdukcapil" in errors[0].message and errors[0].file.name == "disdukcapil.yaml"


def test_unknown_key_suggests_the_right_one(write_kb):
    text = VALID_OPD.replace("keywords:", "keyword:")
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1
    assert "'keywords'" in errors[0].message and errors[0].line == 9
    assert errors[0].entry_id == "ktp-el-baru"


def test_repeated_key(write_kb):
    text = VALID_OPD.replace(
        "    updated: 2024-07-25\n", "    updated: 2024-07-25\n    updated: 2024-08-01\n"
    )
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1 and errors[0].line == 14


@pytest.mark.parametrize("value", ["2024-13-45", "25-07-2024", "kemarin"])
def test_bad_dates(write_kb, value):
    text = VALID_OPD.replace("updated: 2024-07-25", f"updated: {value}")
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1 and errors[0].line == 13
    assert "TAHUN-BULAN-TANGGAL" in errors[0].message


def test_answer_longer_than_telegram_allows(write_kb):
    long = "Jawaban panjang. " * 300
    text = VALID_OPD.replace("Surat keterangan lahir, KK, buku nikah. Gratis.", long.strip())
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1 and "4096" in errors[0].message


def test_non_utf8_file_names_the_line(write_kb):
    data = VALID_OPD.replace("buku nikah. Gratis.", "buku nikah \xe9.").encode("latin-1")
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": data}))
    assert len(errors) == 1
    assert errors[0].line == 17 and "UTF-8" in errors[0].message


def test_bad_slug_and_link(write_kb):
    text = VALID_OPD.replace("id: akta-kelahiran", "id: Akta Kelahiran").replace(
        "https://example.org/ktp", "example.org/ktp"
    )
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert sorted(e.line for e in errors) == [12, 14]


def test_file_name_differs_from_opd_id_is_a_warning(write_kb):
    kb, errors, problems = errors_of(write_kb({"capil.yaml": VALID_OPD}))
    assert kb is not None and errors == []
    assert any("disdukcapil.yaml" in p.message for p in problems)


def test_drafts_and_hidden_files_are_not_loaded(write_kb):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD})
    (folder / "_drafts").mkdir()
    (folder / "_drafts" / "disdukcapil.yaml").write_text("broken: [", encoding="utf-8")
    (folder / "_contoh.yaml").write_text("broken: [", encoding="utf-8")
    assert len(load_knowledge(folder).entries) == 2


def test_load_raises_with_all_problems(write_kb):
    text = VALID_OPD.replace("keywords:", "keyword:").replace("updated: 2024-07-25", "updated: x")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(write_kb({"disdukcapil.yaml": text}))
    assert len(caught.value.problems) == 2


def test_missing_folder_and_empty_folder(tmp_path):
    _, errors, _ = errors_of(tmp_path / "nope")
    assert len(errors) == 1
    _, errors, _ = errors_of(tmp_path)
    assert len(errors) == 1 and ".yaml" in errors[0].message


def test_file_level_synonyms_are_loaded(write_kb):
    kb = load_knowledge(
        write_kb({"disdukcapil.yaml": VALID_OPD + "synonyms:\n  ktp: [kartu penduduk]\n"})
    )
    assert kb.synonyms == {"ktp": ("kartu penduduk",)}


def test_control_character_from_word_names_the_line(write_kb):
    text = VALID_OPD.replace("buku nikah. Gratis.", "buku nikah.\x0b Gratis.")
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert [(e.line, "tak terlihat" in e.message) for e in errors] == [(17, True)]


def test_a_tab_inside_an_answer_block_is_fine(write_kb):
    text = VALID_OPD.replace(
        "      Datang ke kantor dengan KK. Gratis.", "      Datang:\n      \tbawa KK."
    )
    kb, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert errors == [] and "\tbawa KK." in kb.entry("disdukcapil/ktp-el-baru").answer


def test_a_synonym_term_without_letters_is_an_error(write_kb):
    text = VALID_OPD + 'synonyms:\n  "-": [ktp, kk]\n'
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1 and "huruf atau angka" in errors[0].message


def test_hash_in_unquoted_text_is_a_warning(write_kb):
    text = VALID_OPD.replace("buku nikah. Gratis.", "buku nikah. Loket #3.")
    _, errors, problems = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert errors == []
    warnings = [p for p in problems if p.severity == "warning"]
    assert [(w.line, "komentar" in w.message) for w in warnings] == [(17, True)]


def test_answer_length_counts_links_source_and_utf16(write_kb):
    answer = "🙏" * 2040  # 2,040 characters but 4,080 UTF-16 units
    text = VALID_OPD.replace("Surat keterangan lahir, KK, buku nikah. Gratis.", answer)
    _, errors, _ = errors_of(write_kb({"disdukcapil.yaml": text}))
    assert len(errors) == 1 and "4096" in errors[0].message
