"""The one catalogue of text people read (residents, admins, OPD editors).

Every Indonesian string lives in `bot/locale/<lang>.yaml` under a key, so another language can be
added by copying that file; logs and developer output stay in English and never come from here.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

DEFAULT_LANGUAGE = "id"


@cache
def _catalogue(language: str) -> dict[str, str]:
    text = resources.files("bot.locale").joinpath(f"{language}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {str(key): str(value) for key, value in data.items()}


def t(message_id: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """Return the text under `message_id`, filled with `values`.

    A key missing from a non-default language falls back to Indonesian so a partial translation
    never shows a resident a raw key.
    """
    catalogue = _catalogue(language)
    if message_id not in catalogue and language != DEFAULT_LANGUAGE:
        catalogue = _catalogue(DEFAULT_LANGUAGE)
    template = catalogue[message_id]
    return template.format(**values) if values else template
