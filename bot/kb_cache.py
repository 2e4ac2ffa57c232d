"""A compiled-matcher cache, so a large knowledge base loads in a fraction of a second.

Validating and compiling 10,000 entries takes a few seconds of pure Python; the result depends
only on the knowledge files, the bundled word lists and tanya's code. It is pickled under the
configured cache folder, keyed by a hash of exactly those inputs, so an edited file or a new word
list can never be served stale: a different hash simply misses the cache. The cache holds
nothing that is not already in the knowledge files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from importlib import resources
from pathlib import Path

from bot import __version__
from bot.config import MatcherConfig
from bot.knowledge import knowledge_files, load_knowledge
from bot.matcher import Matcher

log = logging.getLogger(__name__)
KEEP = 3  # cache files kept per folder, newest first


def cache_key(folder: Path) -> str:
    digest = hashlib.sha256(f"tanya {__version__} pickle {pickle.HIGHEST_PROTOCOL}".encode())
    for path in knowledge_files(folder):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    # The code that builds the matcher is part of the key too: a changed scorer must never be
    # handed a matcher pickled by the old one.
    for package, suffixes in (("bot", (".py",)), ("bot.data", (".yaml", ".txt", ".tsv"))):
        source = resources.files(package)
        for name in sorted(p.name for p in source.iterdir() if p.name.endswith(suffixes)):
            digest.update(name.encode() + b"\0" + source.joinpath(name).read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def load_matcher(folder: Path, config: MatcherConfig, cache_dir: Path | None) -> Matcher:
    """Return a matcher for `folder`, from the cache when its inputs are unchanged.

    Raises KnowledgeError like `load_knowledge` when the folder has errors.
    """
    if cache_dir is None or not folder.is_dir():
        return Matcher(load_knowledge(folder), config)
    path = cache_dir / f"matcher-{cache_key(folder)}.pickle"
    try:
        if not _trusted(path):
            raise FileNotFoundError(path)
        with path.open("rb") as handle:
            matcher = pickle.load(handle)
        if isinstance(matcher, Matcher):
            matcher.config = config
            return matcher
    except FileNotFoundError:
        pass
    except Exception:  # a truncated or foreign file: rebuild it
        log.warning("knowledge cache unreadable, rebuilding", extra={"cache": str(path)})
    matcher = Matcher(load_knowledge(folder), config)
    _store(matcher, path)
    return matcher


def _trusted(path: Path) -> bool:
    """Only unpickle a file this user wrote in a folder nobody else can write to.

    Unpickling runs code, and the file name is predictable from public inputs, so a cache folder
    shared with other users must never be trusted.
    """
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows has no owner bits to check
        return True
    try:
        for item in (path, path.parent):
            info = item.stat()
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                log.warning("knowledge cache ignored: %s is writable by others", item)
                return False
    except FileNotFoundError:
        return False
    return True


def _store(matcher: Matcher, path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".matcher-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(matcher, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # readers see the old file or the whole new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        old = sorted(path.parent.glob("matcher-*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-KEEP]:
            stale.unlink(missing_ok=True)
    except OSError as exc:  # a read-only disk must not stop the bot
        log.warning("knowledge cache not written: %s", exc)
