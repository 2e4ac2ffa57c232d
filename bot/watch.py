"""Reload the knowledge base when an editor saves a file, without a restart.

watchfiles (inotify on Linux, polling where the folder is on a network share) reports changes
in batches: an editor's save often writes a file twice or through a temporary file, and the
debounce turns that into one reload. Only the files the loader reads count (top-level
`*.yaml`, not drafts in `_drafts/`, not hidden or backup files), so writing a draft with /faq
never reloads anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

log = logging.getLogger(__name__)

# Milliseconds of quiet before a batch of changes is reported.
DEBOUNCE_MS = 800


def is_knowledge_file(folder: Path, path: Path) -> bool:
    """The loader's view (bot.knowledge.knowledge_files): top level, .yaml/.yml, no _ or ."""
    return (
        path.parent == folder
        and path.suffix in (".yaml", ".yml")
        and not path.name.startswith(("_", "."))
    )


async def watch_knowledge(
    folder: Path,
    on_change: Callable[[list[str]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    force_polling: bool | None = None,
) -> None:
    """Call `on_change` with the changed file names after each batch, until `stop` is set.

    A failing callback is logged and watching goes on: the next save must still be seen.
    """
    folder = folder.resolve()

    def wanted(_change: Change, raw: str) -> bool:
        return is_knowledge_file(folder, Path(raw))

    try:
        async for changes in awatch(
            folder,
            watch_filter=wanted,
            stop_event=stop,
            debounce=DEBOUNCE_MS,
            recursive=False,
            force_polling=force_polling,
        ):
            names = sorted({Path(raw).name for _, raw in changes})
            log.info("event=knowledge_changed files=%s", ",".join(names))
            try:
                await on_change(names)
            except Exception:
                log.exception("event=knowledge_reload_failed")
    except FileNotFoundError:
        log.error("event=knowledge_watch_stopped reason=folder_missing")
