"""The `tanya` command line as an editor, a developer and a script would use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.conftest import BUNDLED_KB, PUBLIC_EVAL, ROOT, VALID_OPD


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_kb_check_passes_on_the_bundled_knowledge():
    result = run("kb", "check", str(BUNDLED_KB))
    assert result.exit_code == 0, result.output
    assert "Basis pengetahuan siap dipakai" in result.output


def test_kb_check_reports_file_line_entry_and_fix_and_exits_1(write_kb):
    text = VALID_OPD.replace("keywords:", "keyword:").replace(
        "updated: 2024-07-25", "updated: 2024-02-30"
    )
    folder = write_kb({"disdukcapil.yaml": text})
    result = run("kb", "check", str(folder))
    assert result.exit_code == 1
    assert (
        "disdukcapil.yaml:9: KESALAHAN (entri 'ktp-el-baru'): Kunci 'keyword' tidak dikenal"
        in result.output
    )
    assert "Maksud Anda 'keywords'?" in result.output
    assert (
        "disdukcapil.yaml:13: KESALAHAN (entri 'ktp-el-baru'): Tanggal '2024-02-30'"
        in result.output
    )
    assert "Traceback" not in result.output


def test_kb_check_warns_about_questions_the_matcher_would_confuse(write_kb):
    twin = VALID_OPD.replace(
        "Apa syarat membuat akta kelahiran anak?",
        "Bagaimana cara membuat KTP elektronik untuk pertama kali?",
    )
    result = run("kb", "check", str(write_kb({"disdukcapil.yaml": twin})))
    assert result.exit_code == 0
    assert "PERINGATAN" in result.output
    assert (
        "disdukcapil/ktp-el-baru" in result.output and "disdukcapil/akta-kelahiran" in result.output
    )


def test_kb_check_on_a_missing_folder_is_one_clear_line(tmp_path):
    result = run("kb", "check", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "Folder tidak ditemukan" in result.output


def test_ask_json_contract():
    result = run("ask", "--kb", str(BUNDLED_KB), "--json", "syarat bikin ktp pertama kali")
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert set(payload) == {"decision", "entry", "score", "opd", "candidates"}
    assert payload["decision"] in {"answer", "suggest", "escalate", "smalltalk"}
    assert isinstance(payload["score"], (int, float))
    assert len(payload["candidates"]) <= 3
    for candidate in payload["candidates"]:
        assert set(candidate) == {"entry", "score"}
        assert "/" in candidate["entry"]
    scores = [c["score"] for c in payload["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert (payload["entry"] is not None) == (payload["decision"] == "answer")


def test_ask_stdin_writes_one_json_object_per_line_in_order():
    questions = ["halo min", "", "syarat akta kelahiran apa", "jual motor beat murah", "makasih"]
    result = run("ask", "--kb", str(BUNDLED_KB), "--json", "-", input="\n".join(questions) + "\n")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(questions)
    decisions = [json.loads(line)["decision"] for line in lines]
    assert decisions[0] == "smalltalk" and decisions[-1] == "smalltalk"
    assert decisions[3] == "escalate"


def test_installed_console_script_streams_stdin(tmp_path):
    exe = shutil.which("tanya", path=str(Path(sys.executable).parent)) or shutil.which("tanya")
    if exe is None:
        pytest.skip("console script not installed")
    proc = subprocess.run(
        [exe, "ask", "--kb", str(BUNDLED_KB), "--json", "-"],
        input="ktp hilang gmn\nterima kasih\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "TANYA_CONFIG": str(ROOT / "config.yaml")},
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x)["decision"] for x in proc.stdout.splitlines()][1] == "smalltalk"


def test_eval_json_has_the_metrics_and_misses():
    result = run("eval", "--kb", str(PUBLIC_EVAL / "kb"), "--json", str(PUBLIC_EVAL / "cases.yaml"))
    assert result.exit_code == 0
    payload = json.loads(result.output)
    for key in (
        "auto_answer_correct",
        "resolved_at_3",
        "wrong_answer_rate",
        "oos_escalated",
        "smalltalk_ok",
    ):
        assert 0.0 <= payload[key] <= 1.0
    assert payload["cases"] == 272 and payload["in_scope"] == 204
    assert all({"q", "expect", "kind", "decision"} <= set(m) for m in payload["misses"])


@pytest.mark.parametrize(
    ("cases_text", "message"),
    [
        ("- q: tanpa expect\n", "case 1 needs both 'q' and 'expect'"),
        (
            '- q: "ktp hilang"\n  expect: disdukcapil/ktp-hilang-typo\n',
            "disdukcapil/ktp-hilang-typo",
        ),
    ],
)
def test_eval_on_a_broken_case_file_is_a_clear_error(tmp_path, cases_text, message):
    cases = tmp_path / "cases.yaml"
    cases.write_text(cases_text, encoding="utf-8")
    result = run("eval", "--kb", str(BUNDLED_KB), str(cases))
    assert result.exit_code == 1
    assert message in result.output


def test_ask_on_a_broken_knowledge_base_points_to_kb_check(write_kb):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD.replace("keywords:", "keyword:")})
    result = run("ask", "--kb", str(folder), "ktp")
    assert result.exit_code == 1
    assert "tanya kb check" in result.output and "Traceback" not in result.output


def test_bad_config_key_names_the_key(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("matcher:\n  answer_treshold: 50\n", encoding="utf-8")
    result = run("ask", "--config", str(config), "ktp")
    assert result.exit_code == 1
    assert "matcher.answer_treshold" in result.output
    assert "matcher.answer_threshold" in result.output


@pytest.fixture
def chat_config(tmp_path: Path) -> str:
    """A config whose database lives in the test's folder, not in the repository's data/."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"knowledge:\n  dir: {BUNDLED_KB}\n  cache_dir: ''\nstorage:\n  path: {tmp_path / 'db'}\n",
        encoding="utf-8",
    )
    return str(path)


def test_chat_answers_in_the_terminal(chat_config):
    result = run("chat", "--config", chat_config, input="halo\nterima kasih\n/keluar\n")
    assert result.exit_code == 0
    assert "Sama-sama" in result.output


def test_chat_plays_the_whole_ticket_flow(chat_config):
    lines = [
        "kucing saya hilang di pasar",
        "/antrian",
        "/jawab 1 Silakan lapor ke kantor pasar.",
        "/status",
        "/tutup 1",
        "/jawab",
        "/keluar",
    ]
    result = run("chat", "--config", chat_config, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[grup admin]> 🎫 Tiket #1" in out and "nomor tiket #1" in out
    assert "Balasan petugas" in out and "Silakan lapor ke kantor pasar." in out
    assert "✅ Terkirim ke" in out and "Tiket #1 ditutup." in out
    assert "Tulis: /jawab NOMOR-TIKET" in out


def test_ask_stdin_survives_bad_encoding_and_crlf():
    data = b"halo\r\nsyarat ktp\xff\n\nterima kasih\n"
    result = CliRunner().invoke(main, ["ask", "--kb", str(BUNDLED_KB), "--json", "-"], input=data)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4
    assert json.loads(lines[0])["decision"] == "smalltalk"


def test_chat_ignores_digits_that_are_not_numbers(chat_config):
    result = run("chat", "--config", chat_config, input="bansos\n²\n/keluar\n")
    assert result.exit_code == 0
    assert "Traceback" not in result.output
