"""The core (bot.service) without Telegram, for failures the fake Bot API cannot stage quickly:
the terminal chat's messenger, made to fail as Telegram does when it is out of reach (the edge
of the world), and a config whose admin group is the terminal's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from bot.config import AdminConfig, Config, KnowledgeConfig, StorageConfig
from bot.messaging import DeliveryError
from bot.terminal import ADMIN_CHAT, TerminalMessenger


class OutageMessenger(TerminalMessenger):
    """Sends fail with `reason` while `down`, or for the next `failures` sends; with
    `private_only`, only sends into residents' chats (positive ids) fail."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        reason: Literal["transient", "unreachable"] = "transient",
        down: bool = False,
        failures: int = 0,
        private_only: bool = False,
    ) -> None:
        super().__init__(write)
        self.reason: Literal["transient", "unreachable"] = reason
        self.down = down
        self.failures = failures
        self.private_only = private_only

    async def send(self, chat_id: int, text: str, **kwargs: object) -> int:
        if not self.private_only or chat_id > 0:
            if self.down:
                raise DeliveryError(self.reason, "gave up after retrying")
            if self.failures:
                self.failures -= 1
                raise DeliveryError(self.reason, "gave up after retrying")
        return await super().send(chat_id, text, **kwargs)  # type: ignore[arg-type]


def core_config(kb: Path, db: Path, admin: AdminConfig | None = None, **sections: object) -> Config:
    """Knowledge `kb`, database `db`, the terminal's admin group; `sections` replace others."""
    return Config(
        knowledge=KnowledgeConfig(dir=kb, cache_dir=None, watch=False),
        storage=StorageConfig(path=db),
        admin=admin or AdminConfig(chat_id=ADMIN_CHAT),
    ).model_copy(update=sections)
