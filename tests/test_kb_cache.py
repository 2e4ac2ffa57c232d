"""The compiled-knowledge cache never serves stale or broken knowledge."""

from __future__ import annotations

import pytest

from bot.config import MatcherConfig
from bot.kb_cache import load_matcher
from bot.knowledge import KnowledgeError
from tests.conftest import VALID_OPD


def test_a_restart_reads_the_cache_and_answers_the_same(write_kb, tmp_path):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD})
    cache = tmp_path / "cache"
    first = load_matcher(folder, MatcherConfig(), cache)
    files = list(cache.glob("matcher-*.pickle"))
    assert len(files) == 1
    second = load_matcher(folder, MatcherConfig(answer_threshold=99), cache)
    assert second is not first
    assert second.config.answer_threshold == 99  # thresholds come from config, not the cache
    question = "syarat bikin akte kelahiran anak"
    assert second.match(question).candidates == first.match(question).candidates


def test_an_edited_file_is_compiled_again(write_kb, tmp_path):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD})
    cache = tmp_path / "cache"
    load_matcher(folder, MatcherConfig(), cache)
    (folder / "disdukcapil.yaml").write_text(
        VALID_OPD.replace("akta-kelahiran", "akta-lahir"), encoding="utf-8"
    )
    matcher = load_matcher(folder, MatcherConfig(), cache)
    assert matcher.kb.entry("disdukcapil/akta-lahir") is not None
    assert len(list(cache.glob("matcher-*.pickle"))) == 2


def test_a_broken_file_is_never_hidden_by_the_cache(write_kb, tmp_path):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD})
    cache = tmp_path / "cache"
    load_matcher(folder, MatcherConfig(), cache)
    (folder / "disdukcapil.yaml").write_text(VALID_OPD.replace("keywords:", "keyword:"))
    with pytest.raises(KnowledgeError):
        load_matcher(folder, MatcherConfig(), cache)


def test_a_corrupt_cache_file_is_rebuilt(write_kb, tmp_path):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD})
    cache = tmp_path / "cache"
    load_matcher(folder, MatcherConfig(), cache)
    (path,) = cache.glob("matcher-*.pickle")
    path.write_bytes(b"not a pickle")
    matcher = load_matcher(folder, MatcherConfig(), cache)
    assert len(matcher.kb.entries) == 2
    assert path.read_bytes() != b"not a pickle"


def test_the_key_covers_the_code_that_builds_the_matcher(write_kb, monkeypatch):
    from bot import kb_cache

    folder = write_kb({"disdukcapil.yaml": VALID_OPD})
    before = kb_cache.cache_key(folder)
    real = kb_cache.resources.files

    class Patched:
        """The bot package as it would look after an edit to one source file."""

        def __init__(self, package):
            self._inner = real(package)

        def iterdir(self):
            return self._inner.iterdir()

        def joinpath(self, name):
            inner = self._inner.joinpath(name)
            if name != "matcher.py":
                return inner
            return type("Edited", (), {"read_bytes": lambda _self: inner.read_bytes() + b"#"})()

    monkeypatch.setattr(kb_cache.resources, "files", Patched)
    assert kb_cache.cache_key(folder) != before


def test_a_cache_folder_others_can_write_is_not_trusted(write_kb, tmp_path):
    folder = write_kb({"disdukcapil.yaml": VALID_OPD})
    cache = tmp_path / "shared-cache"
    load_matcher(folder, MatcherConfig(), cache)
    (path,) = cache.glob("matcher-*.pickle")
    cache.chmod(0o777)
    path.write_bytes(b"planted")  # would run code if it were a malicious pickle and trusted
    matcher = load_matcher(folder, MatcherConfig(), cache)
    assert len(matcher.kb.entries) == 2
