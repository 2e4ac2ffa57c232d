"""Typed, validated configuration read once from `config.yaml`.

A bad key or value stops the start with one sentence naming the key, so a regency's operator
never has to read a traceback. Relative paths are resolved against the config file's folder,
so `tanya` works the same from any working directory.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import string
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

CONFIG_ENV = "TANYA_CONFIG"
DEFAULT_CONFIG_NAME = "config.yaml"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _time_text(value: object) -> object:
    """A clock time as written. YAML reads an unquoted 8:00 as the number 480 (base 60), which
    would silently become 00:08: refuse it and say how to write it."""
    if isinstance(value, bool | int | float):
        raise ValueError('write the time in quotes, e.g. "08:00"')
    return value


def _naive_time(value: dt.time | None) -> dt.time | None:
    if value is not None and value.tzinfo is not None:
        raise ValueError('write the time without a time zone, e.g. "08:00" (calendar.timezone)')
    return value


class RegencyConfig(_Section):
    name: str = Field(default="Kabupaten Mekar Sari", min_length=1)
    # The kecamatan residents may follow announcements of (/langganan); topic id kec-<slug>.
    # The defaults are fictional, like the sample regency.
    kecamatan: tuple[str, ...] = (
        "Kota Mekar",
        "Sukamekar",
        "Cibunga",
        "Tanjung Melati",
        "Karangasri",
        "Sindangwangi",
    )

    @field_validator("kecamatan")
    @classmethod
    def _kecamatan_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(" ".join(v.split()) for v in value)
        if any(not any(c.isalnum() for c in n) for n in names):
            raise ValueError("every kecamatan needs a name with letters or digits")
        if len({n.casefold() for n in names}) != len(names):
            raise ValueError("a kecamatan is listed twice")
        return names


class KnowledgeConfig(_Section):
    dir: Path = Path("knowledge")
    # Compiled knowledge is cached here (keyed by a hash of the files); empty to disable.
    cache_dir: Path | None = Path("data/cache")
    # Reload the knowledge when a file in `dir` changes on disk (also: /muat_ulang).
    watch: bool = True

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _empty_disables(cls, value: object) -> object:
        return None if value in ("", None) else value


class StorageConfig(_Section):
    path: Path = Path("data/tanya.sqlite3")


class MatcherConfig(_Section):
    """Decision thresholds; scores are 0-100 (see bot.matcher)."""

    answer_threshold: float = Field(default=46.0, ge=0, le=100)
    answer_margin: float = Field(default=16.0, ge=0, le=100)
    suggest_threshold: float = Field(default=38.0, ge=0, le=100)
    suggest_window: float = Field(default=25.0, ge=0, le=100)
    route_threshold: float = Field(default=25.0, ge=0, le=100)
    max_candidates: int = Field(default=3, ge=1, le=3)
    # `tanya run` matches in a process of its own, on a second core (bot.match_worker); the
    # terminal chat and the CLI match in their own process.
    separate_process: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> MatcherConfig:
        if self.suggest_threshold > self.answer_threshold:
            raise ValueError("suggest_threshold must not be above answer_threshold")
        return self


TOKEN_ENV = "TANYA_TELEGRAM_TOKEN"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"


class TelegramConfig(_Section):
    """How the bot reaches Telegram. The token is a secret: it never appears in logs or repr."""

    token: SecretStr | None = None  # prefer the TANYA_TELEGRAM_TOKEN environment variable
    # Same meaning as python-telegram-bot's base_url: the token is appended to it. Point it at a
    # self-hosted Bot API server, or at the fake one the tests run.
    api_base_url: str = Field(default=DEFAULT_API_BASE_URL, min_length=1)
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None  # public https URL Telegram posts updates to
    listen: str = "0.0.0.0:8443"  # address:port of the library's webhook server
    secret_token: SecretStr | None = None  # checked on every webhook request
    # Flood control (handlers/flood.py) keeps the bot within Telegram's limits: messages in any
    # second from the whole bot, in any second into one private chat, in any minute into one
    # group. The defaults are Telegram's published limits.
    rate_limiter: bool = True
    sends_per_second: int = Field(default=30, ge=1)
    sends_per_second_per_chat: int = Field(default=1, ge=1)
    sends_per_minute_per_group: int = Field(default=20, ge=1)

    @field_validator("token", "secret_token", "webhook_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be ADDRESS:PORT, e.g. 0.0.0.0:8443")
        return value

    def resolved_token(self) -> str | None:
        """The token from the environment, else from the config file."""
        env = os.environ.get(TOKEN_ENV, "").strip()
        if env:
            return env
        return self.token.get_secret_value().strip() if self.token else None


class AdminConfig(_Section):
    # The admin group (a supergroup; with topics, each OPD gets its own). Its id is negative,
    # e.g. -1001234567890; the bot logs the id of any group it is added to.
    chat_id: int | None = None
    # The daily digest in the admin group, at this local time (calendar.timezone) on working
    # days; null switches it off.
    digest_at: dt.time | None = dt.time(7, 30)
    # A reminder in a ticket's thread when it passes tickets.target_working_days unanswered.
    reminders: bool = True

    @field_validator("digest_at", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        return _time_text(value)

    @field_validator("digest_at")
    @classmethod
    def _local_time(cls, value: dt.time | None) -> dt.time | None:
        return _naive_time(value)


class TicketsConfig(_Section):
    # Told to residents when their question goes to a person.
    reply_within: str = Field(default="1 hari kerja", min_length=1)
    # A resident's messages join their last ticket while it is open, and for this many hours
    # after an admin answered it (follow-up questions); after that a message is a new question.
    followup_hours: float = Field(default=72.0, ge=0)
    # The regency's own target for an admin's first response, in working days (calendar).
    target_working_days: float = Field(default=1.0, gt=0)


# The fields a registration number format may use (bot.ppid.format_number).
NUMBER_FIELDS = ("year", "month", "day", "seq")


class PpidConfig(_Section):
    # UU 14/2008: a formal information request is answered within this many working days,
    # extendable once by extension_working_days with a reason.
    deadline_working_days: int = Field(default=10, ge=1)
    extension_working_days: int = Field(default=7, ge=0)
    # Registration numbers: Python format fields {year}, {month}, {day}, {seq}; {seq} counts
    # from 1 and starts again each year.
    number_format: str = "PPID/{year}/{month:02d}/{seq:04d}"
    objection_format: str = "KEB/{year}/{month:02d}/{seq:04d}"
    # Reminder in the request's thread when this many working days (or fewer) are left.
    remind_days_before: int = Field(default=2, ge=0)
    # A resident may object (keberatan) within this many working days of a refusal or of an
    # unanswered deadline (art. 36); the PPID's superior answers within superior_working_days.
    objection_working_days: int = Field(default=30, ge=1)
    superior_working_days: int = Field(default=30, ge=1)
    # The chat of the PPID's superior (atasan PPID), where objections go; empty: the admin group.
    superior_chat_id: int | None = None
    # Where a request goes when its text names no OPD the matcher recognises (an OPD id, e.g.
    # the PPID Utama at diskominfo); empty: the admin group's general topic.
    default_opd: str | None = None

    @field_validator("number_format", "objection_format")
    @classmethod
    def _number_format(cls, value: str) -> str:
        example = "e.g. PPID/{year}/{seq:04d}"
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        except ValueError as exc:
            raise ValueError(f"not a valid format ({exc}); {example}") from None
        unknown = fields - set(NUMBER_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown field {{{sorted(unknown)[0]}}}; use {{year}}, {{month}}, {{day}}, {{seq}}"
            )
        if "seq" not in fields:
            raise ValueError("must contain {seq}, the running number")
        try:
            value.format(year=2026, month=1, day=1, seq=1)
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(f"not a valid format ({exc}); {example}") from None
        return value

    @field_validator("default_opd", mode="before")
    @classmethod
    def _empty_none(cls, value: object) -> object:
        return None if value in ("", None) else value


class CalendarConfig(_Section):
    """The regency's working time: response times count working hours, deadlines working days."""

    timezone: str = "Asia/Jakarta"  # WIB; Asia/Makassar (WITA), Asia/Jayapura (WIT)
    work_start: dt.time = dt.time(8, 0)
    work_end: dt.time = dt.time(16, 0)
    # ISO weekdays the offices are open: 1 = Monday ... 7 = Sunday.
    work_days: tuple[int, ...] = (1, 2, 3, 4, 5)
    # Public holidays and cuti bersama (YAML); null uses the national list bundled with tanya.
    holidays_file: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use e.g. Asia/Jakarta") from None
        return value

    @field_validator("work_start", "work_end", mode="before")
    @classmethod
    def _quoted_times(cls, value: object) -> object:
        return _time_text(value)

    @field_validator("work_start", "work_end")
    @classmethod
    def _local_times(cls, value: dt.time) -> dt.time:
        naive = _naive_time(value)
        assert naive is not None
        return naive

    @field_validator("work_days")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 1 <= d <= 7 for d in value):
            raise ValueError("must list weekdays from 1 (Monday) to 7 (Sunday)")
        return tuple(sorted(set(value)))

    @field_validator("holidays_file", mode="before")
    @classmethod
    def _empty_bundled(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _hours_ordered(self) -> CalendarConfig:
        if self.work_end <= self.work_start:
            raise ValueError("work_end must be after work_start")
        return self


class LimitsConfig(_Section):
    # Per resident: messages a minute before the bot asks them to slow down, and tickets
    # waiting for an admin at once.
    messages_per_minute: int = Field(default=20, ge=1)
    open_tickets: int = Field(default=3, ge=1)


class AnnouncementsConfig(_Section):
    # Broadcast pace (/umumkan, /klarifikasi), messages a second: below telegram.sends_per_second,
    # so residents' answers still get through while an announcement goes out.
    per_second: int = Field(default=20, ge=1)


class RetentionConfig(_Section):
    # What residents wrote in closed tickets and the conversation log is blanked after this
    # many days (counts for reports stay); null keeps it.
    days: int | None = Field(default=365, ge=1)


class Config(_Section):
    regency: RegencyConfig = RegencyConfig()
    language: Literal["id"] = "id"
    knowledge: KnowledgeConfig = KnowledgeConfig()
    storage: StorageConfig = StorageConfig()
    matcher: MatcherConfig = MatcherConfig()
    telegram: TelegramConfig = TelegramConfig()
    admin: AdminConfig = AdminConfig()
    tickets: TicketsConfig = TicketsConfig()
    retention: RetentionConfig = RetentionConfig()
    limits: LimitsConfig = LimitsConfig()
    calendar: CalendarConfig = CalendarConfig()
    ppid: PpidConfig = PpidConfig()
    announcements: AnnouncementsConfig = AnnouncementsConfig()
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("announcements")
    @classmethod
    def _broadcast_below_limit(
        cls, value: AnnouncementsConfig, info: ValidationInfo
    ) -> AnnouncementsConfig:
        # A field validator (not the whole model's): the error names this section only and
        # never echoes the rest of the file (the token).
        telegram = info.data.get("telegram")
        pace = value.per_second
        limit = telegram.sends_per_second if isinstance(telegram, TelegramConfig) else pace + 1
        if pace >= limit:
            raise ValueError(
                f"announcements.per_second ({pace}) must be below telegram.sends_per_second "
                f"({limit}), so residents' answers still get through during a broadcast"
            )
        return value


def _known_keys(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    for part in path[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return []
        if not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return [name for name in model.model_fields if name != "source"]


_SECRET_KEYS = frozenset({"token", "secret_token"})


def _explain(error: dict[str, Any], file: Path) -> str:
    loc = error["loc"]
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        known = _known_keys(Config, loc)
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" Did you mean '{'.'.join([*map(str, loc[:-1]), guess[0]])}'?" if guess else ""
        return f"{file}: unknown key '{key}'.{hint} Known keys here: {', '.join(known)}."
    if loc and loc[-1] in _SECRET_KEYS:
        return f"{file}: key '{key}': {error['msg']}."  # never echo a secret
    return f"{file}: key '{key}': {error['msg']} (got {error.get('input')!r})."


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the configuration.

    Without a path: `$TANYA_CONFIG`, else `./config.yaml` if present, else the built-in defaults
    (which point at `./knowledge` and `./data`).
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
    if path is None:
        candidate = Path(DEFAULT_CONFIG_NAME)
        if not candidate.exists():
            return Config()
        path = candidate
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file {file} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {file} cannot be read: {exc}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"Config file {file}{where} is not valid YAML: {exc}.") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"Config file {file} must be a mapping of sections (regency, matcher, ...)."
        )
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(" ".join(_explain(e, file) for e in exc.errors())) from None
    base = file.resolve().parent
    return config.model_copy(
        update={
            "source": file,
            "knowledge": config.knowledge.model_copy(
                update={
                    "dir": _under(base, config.knowledge.dir),
                    "cache_dir": _under(base, config.knowledge.cache_dir)
                    if config.knowledge.cache_dir
                    else None,
                }
            ),
            "storage": StorageConfig(path=_under(base, config.storage.path)),
            "calendar": config.calendar.model_copy(
                update={"holidays_file": _under(base, config.calendar.holidays_file)}
            )
            if config.calendar.holidays_file
            else config.calendar,
        }
    )


def _under(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path
