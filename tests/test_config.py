"""Configuration: defaults that work, and one clear sentence for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config
from tests.conftest import ROOT


def test_the_shipped_config_equals_the_defaults_and_resolves_paths():
    config = load_config(ROOT / "config.yaml")
    assert config.matcher == Config().matcher
    assert config.knowledge.dir == ROOT / "knowledge"
    assert config.storage.path == ROOT / "data" / "tanya.sqlite3"
    assert config.regency.name


def test_no_config_file_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TANYA_CONFIG", raising=False)
    assert load_config() == Config()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("matcher:\n  answer_threshold: 200\n", "matcher.answer_threshold"),
        ("matcher:\n  answer_threshold: banyak\n", "matcher.answer_threshold"),
        ("regensi:\n  name: X\n", "Did you mean 'regency'"),
        ("language: fr\n", "language"),
        ("matcher: [1, 2]\n", "matcher"),
        ("matcher:\n  suggest_threshold: 90\n  answer_threshold: 50\n", "suggest_threshold"),
        ("- just\n- a list\n", "mapping"),
        ("matcher:\n  answer_threshold: [\n", "line"),
    ],
)
def test_mistakes_name_the_key(tmp_path, text, expected):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("yaml_text", "key", "says"),
    [
        ("admin:\n  digest_at: 10:00\n", "admin.digest_at", 'in quotes, e.g. "08:00"'),
        ("calendar:\n  work_start: 8:00\n", "calendar.work_start", "in quotes"),
        ('calendar:\n  work_end: "16:00+07:00"\n', "calendar.work_end", "without a time zone"),
    ],
)
def test_a_time_yaml_would_misread_is_refused_with_how_to_write_it(
    tmp_path: Path, yaml_text: str, key: str, says: str
) -> None:
    # YAML reads an unquoted 10:00 as 600 (base 60): it must not become 00:10.
    file = tmp_path / "config.yaml"
    file.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert key in str(caught.value) and says in str(caught.value)
