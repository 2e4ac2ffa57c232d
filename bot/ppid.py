"""Formal information requests (UU 14/2008) and objections, in the same bot as the questions.

A resident's request (/permohonan) is a short guided dialogue (bot.dialogue); once confirmed it
gets a registration number and a legal deadline counted on the regency's working-day calendar,
and becomes a ticket in its OPD's thread of the admin group, where the PPID answers (/jawab),
extends once with a reason (/perpanjang) or refuses citing an exemption of art. 17 (/tolak).
After a refusal, or when the deadline passes unanswered, the resident is told how to object
(/keberatan, art. 35-36); an objection gets its own number and goes to the PPID's superior.

Everything here goes through the Service's storage and messenger, so `tanya chat`, the tests
and the Telegram bot run the same steps.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import yaml

from bot import dialogue
from bot.clarify import CLARIFY_OPD
from bot.dialogue import Choice, Data, Invalid, Step
from bot.messaging import Button, Buttons, DeliveryError, Incoming, Person
from bot.normalize import raw_tokens
from bot.replies import long_date
from bot.storage import REQUEST_KIND, Dialogue, InfoRequest, Objection, Resident, Ticket
from bot.text import shorten, split_message

if TYPE_CHECKING:
    from bot.service import Service

log = logging.getLogger(__name__)

# UU 14/2008 art. 17: the exemptions a refusal must cite (letters a-j).
EXEMPTIONS = tuple("abcdefghij")
# Art. 35(1): the grounds of an objection (letters a-g).
OBJECTION_REASONS = tuple("abcdefg")
# A dialogue untouched this long starts afresh (its answers are dropped).
DIALOGUE_TTL = dt.timedelta(days=7)
# Deadline notices (reminders, lapses) sent at one check at most; the rest at the next.
NOTICES_PER_CHECK = 5
MIN_REASON = 10  # characters an extension or refusal reason needs at least

_PHONE = re.compile(r"^\+?[0-9]{9,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


# ------------------------------------------------------------------ reading answers


def _text(minimum: int, maximum: int, key: str) -> Any:
    def parse(typed: str, _data: Data) -> str:
        value = " ".join(typed.split())
        letters = sum(c.isalpha() for c in value)
        if len(value) > maximum:
            raise Invalid("ppid.too_long", limit=maximum)
        if len(value) < minimum or letters < min(minimum, 3):
            raise Invalid(key)
        return value

    return parse


def _name(typed: str, _data: Data) -> str:
    value = " ".join(typed.split())
    if len(value) > 80:
        raise Invalid("ppid.too_long", limit=80)
    if sum(c.isalpha() for c in value) < 3 or any(c.isdigit() for c in value) or "@" in value:
        raise Invalid("ppid.bad_name")
    return value


def _contact(typed: str, _data: Data) -> str:
    value = typed.strip()
    if _EMAIL.match(value):
        return value
    phone = re.sub(r"[\s\-.()]", "", value)
    if _PHONE.match(phone):
        return phone
    raise Invalid("ppid.bad_contact")


def _email(typed: str, _data: Data) -> str:
    value = typed.strip()
    if not _EMAIL.match(value):
        raise Invalid("ppid.bad_email")
    return value


def _needs_email(data: Data) -> bool:
    return data.get("delivery") == "email" and not _EMAIL.match(str(data.get("contact", "")))


REQUEST_STEPS: tuple[Step, ...] = (
    Step("name", "ppid.ask_name", _name, suggestion=lambda d: d.get("telegram_name")),
    Step("contact", "ppid.ask_contact", _contact),
    Step(
        "info",
        "ppid.ask_info",
        _text(10, 1500, "ppid.bad_info"),
        suggestion=lambda d: d.get("asked"),
    ),
    Step("purpose", "ppid.ask_purpose", _text(5, 500, "ppid.bad_purpose")),
    Step(
        "delivery",
        "ppid.ask_delivery",
        choices=(
            Choice("chat", "ppid.delivery.chat", ("chat", "telegram", "di sini", "disini")),
            Choice("email", "ppid.delivery.email", ("email", "e-mail", "surel", "imel")),
            Choice("pickup", "ppid.delivery.pickup", ("ambil", "ambil langsung", "datang")),
        ),
    ),
    Step("email", "ppid.ask_email", _email, when=_needs_email),
    Step("confirm", "ppid.confirm", choices=(Choice("send", "ppid.send", ("kirim", "ya")),)),
)


def _objection_steps(requests: Sequence[str], labels: Sequence[str] = ()) -> tuple[Step, ...]:
    shown = list(labels) if len(labels) == len(requests) else list(requests)
    return (
        Step(
            "request",
            "objection.ask_request",
            choices=tuple(
                Choice(n, label, (n.casefold(),), literal=True)
                for n, label in zip(requests, shown, strict=True)
            ),
            when=lambda d: bool(d.get("choose_request")),  # only with several to choose from
        ),
        Step(
            "reason",
            "objection.ask_reason",
            choices=tuple(Choice(c, f"objection.reason.{c}") for c in OBJECTION_REASONS),
        ),
        Step("detail", "objection.ask_detail", _text(5, 1500, "objection.bad_detail")),
        Step(
            "confirm", "objection.confirm", choices=(Choice("send", "ppid.send", ("kirim", "ya")),)
        ),
    )


def _steps_of(kind: str, data: Data) -> tuple[Step, ...]:
    """The steps of a dialogue; an objection's first step lists the requests it may concern."""
    if kind == "request":
        return REQUEST_STEPS
    return _objection_steps(list(data.get("numbers", ())), list(data.get("labels", ())))


# ------------------------------------------------------------------ documents asked for


@lru_cache(maxsize=1)
def _request_words() -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    raw = yaml.safe_load(
        resources.files("bot.data").joinpath("request_words.yaml").read_text(encoding="utf-8")
    )
    return (
        frozenset(raw.get("documents") or ()),
        frozenset(raw.get("asking") or ()),
        tuple(" ".join(raw_tokens(p)) for p in raw.get("phrases") or ()),
    )


def asks_for_document(text: str) -> bool:
    """Whether a question reads like a request for a document or data (offer /permohonan)."""
    documents, asking, phrases = _request_words()
    tokens = raw_tokens(text)
    joined = " ".join(tokens)
    if any(p and p in joined for p in phrases):
        return True
    words = set(tokens)
    return bool(words & documents) and bool(words & asking)


# ------------------------------------------------------------------ dates


def format_number(pattern: str, moment: dt.date, seq: int) -> str:
    return pattern.format(year=moment.year, month=moment.month, day=moment.day, seq=seq)


class PpidDesk:
    """The PPID's service inside the bot: request and objection dialogues, admin commands,
    deadline notices."""

    def __init__(self, service: Service) -> None:
        self.s = service

    # --- helpers

    @property
    def _cfg(self) -> Any:
        return self.s.config.ppid

    def _t(self, key: str, **values: object) -> str:
        return self.s._t(key, **values)

    def _local_day(self, moment: dt.datetime) -> dt.date:
        return self.s.calendar.local_date(moment)

    def _date(self, moment: dt.datetime) -> str:
        return long_date(self._local_day(moment), weekday=True)

    def _left(self, due: dt.datetime, now: dt.datetime) -> str:
        """ "2 hari kerja lagi", or "hari ini batas terakhir" on the day itself."""
        days = self._days_left(due, now)
        return self._t("ppid.left_days", n=days) if days else self._t("ppid.left_today")

    def _days_left(self, due: dt.datetime, now: dt.datetime) -> int:
        """Working days from today (not counted) up to the due day (counted)."""
        return self.s.calendar.working_days_until(self._local_day(now), self._local_day(due))

    def _due(self, received: dt.datetime) -> dt.datetime:
        return self.s.calendar.deadline(received, self._cfg.deadline_working_days)

    def _objection_window(self, request: InfoRequest) -> dt.datetime | None:
        """Until when a resident may object to this request; None when they cannot (yet)."""
        now = self.s.storage.now()
        if request.status == "open":
            if now <= request.due_at:
                return None
            start = request.due_at
        else:
            start = request.decided_at or request.due_at
        return self.s.calendar.deadline(start, self._cfg.objection_working_days)

    # ------------------------------------------------------------------ residents

    async def active(self, resident: Resident) -> Dialogue | None:
        found = await self.s.storage.dialogue(resident.id)
        if found is None:
            return None
        if self.s.storage.now() - found.updated_at > DIALOGUE_TTL:
            await self.s.storage.end_dialogue(resident.id)
            return None
        return found

    async def command(self, resident: Resident, command: str) -> bool:
        """/permohonan, /keberatan, /batal, /kembali; False for any other command (which then
        pauses a dialogue in progress: /permohonan later picks it up where it was)."""
        current = await self.active(resident)
        if command in ("permohonan", "keberatan"):
            kind = "request" if command == "permohonan" else "objection"
            if current is not None and current.kind == kind:  # resume where it was
                await self._save_and_ask(resident, current.kind, current.step, current.data, True)
            elif kind == "request":
                await self.start_request(resident, paused=current)
            else:
                await self.start_objection(resident, paused=current)
            return True
        if command in ("batal", "kembali"):
            if current is None:
                await self.s._say(resident, self._t("dialogue.none"))
                return True
            if command == "kembali" and not current.active:  # a paused one: pick it up
                await self._save_and_ask(resident, current.kind, current.step, current.data, True)
                return True
            await self._turn(resident, current, "batal" if command == "batal" else "kembali")
            return True
        if current is not None and current.active:
            # Paused, with the same token: the buttons of its last question still work.
            await self.s.storage.save_dialogue(
                resident.id,
                current.kind,
                current.step,
                current.data,
                active=False,
                token=current.token,
            )
        return False

    async def start_request(
        self, resident: Resident, asked: str | None = None, paused: Dialogue | None = None
    ) -> None:
        data: dict[str, Any] = {
            "telegram_name": resident.name if _plausible(resident.name) else None
        }
        if asked:
            data["asked"] = shorten(asked, 1500)
        _stash(data, paused)
        await self.s._say(resident, self._t("ppid.intro", days=self._cfg.deadline_working_days))
        await self._save_and_ask(
            resident, "request", dialogue.first(REQUEST_STEPS, data).name, data
        )

    async def start_objection(self, resident: Resident, paused: Dialogue | None = None) -> None:
        eligible = await self._objectable(resident)
        if not eligible:
            await self.s._say(
                resident, self._t("objection.none", days=self._cfg.objection_working_days)
            )
            return
        data: dict[str, Any] = {
            "numbers": [r.number for r in eligible],
            # What each was about: a number alone does not tell a resident which one it is.
            "labels": [f"{r.number} · {shorten(r.info, 40)}" for r in eligible],
        }
        if len(eligible) == 1:
            data["request"] = eligible[0].number
        else:
            data["choose_request"] = True
        _stash(data, paused)
        steps = _steps_of("objection", data)
        await self._save_and_ask(resident, "objection", dialogue.first(steps, data).name, data)

    async def _objectable(self, resident: Resident) -> list[InfoRequest]:
        now = self.s.storage.now()
        found = []
        for request in await self.s.storage.resident_requests(resident.id):
            until = self._objection_window(request)
            if until is None or now > until:
                continue
            objections = await self.s.storage.request_objections(request.id)
            if any(o.status == "open" for o in objections):
                continue
            found.append(request)
        return found

    async def message(self, resident: Resident, msg: Incoming) -> bool:
        """A message while a dialogue is active: it is the answer to the current step."""
        current = await self.active(resident)
        if current is None or not current.active:
            return False
        if msg.media is not None or not (msg.text or "").strip():
            await self.s._say(resident, self._t("dialogue.type_please"))
            await self._ask(resident, current, current.token)
            return True
        await self._turn(resident, current, msg.text or "")
        return True

    async def button(self, resident: Resident, data: str) -> str | None:
        """A dialogue button ("d:<token>:<value>"); returns a toast text, None when fine."""
        parts = data.split(":", 2)
        current = await self.active(resident)
        if (
            len(parts) != 3
            or current is None
            or not parts[1].isdecimal()
            or int(parts[1]) != current.token
        ):
            return self._t("button_stale")
        value = parts[2]
        typed = {"back": "kembali", "cancel": "batal"}.get(value, value)
        if not current.active:
            current = Dialogue(
                current.kind, current.step, current.data, True, current.token, current.updated_at
            )
        await self._turn(resident, current, typed)
        return None

    async def _turn(self, resident: Resident, current: Dialogue, typed: str) -> None:
        steps = _steps_of(current.kind, current.data)
        data = dict(current.data)
        step = dialogue.find(steps, current.step) or dialogue.first(steps, data)
        if dialogue.is_cancel(typed):
            await self._end(resident, data)
            log.info("event=dialogue_cancelled kind=%s step=%s", current.kind, step.name)
            await self.s._say(resident, self._t(f"{_prefix(current.kind)}.cancelled"))
            await self._tell_stashed(resident, data)
            return
        if dialogue.is_back(typed):
            back = dialogue.preceding(steps, step, data)
            if back is None:
                await self.s._say(resident, self._t("dialogue.first_step"))
                await self._ask(resident, current, current.token)
                return
            await self._save_and_ask(resident, current.kind, back.name, data, back=True)
            return
        try:
            value = dialogue.read(step, typed, data)
        except Invalid as exc:
            token = await self.s.storage.save_dialogue(resident.id, current.kind, step.name, data)
            await self.s._say(resident, self._t(exc.key, **exc.values))
            await self._ask(
                resident,
                Dialogue(current.kind, step.name, data, True, token, current.updated_at),
                token,
            )
            return
        data[step.name] = value
        nxt = dialogue.following(steps, step, data)
        if nxt is None or step.name == "confirm":
            await self._end(resident, data)
            if current.kind == "request":
                await self._file_request(resident, data)
            else:
                await self._file_objection(resident, data)
            await self._tell_stashed(resident, data)
            return
        await self._save_and_ask(resident, current.kind, nxt.name, data)

    async def _end(self, resident: Resident, data: Data) -> None:
        """The dialogue is over; one it interrupted comes back, paused (/permohonan or
        /keberatan picks it up where it was), so nothing typed there is lost."""
        stashed = data.get(STASH)
        if stashed:
            await self.s.storage.save_dialogue(
                resident.id, stashed["kind"], stashed["step"], stashed["data"], active=False
            )
        else:
            await self.s.storage.end_dialogue(resident.id)

    async def _tell_stashed(self, resident: Resident, data: Data) -> None:
        stashed = data.get(STASH)
        if stashed:
            command = "permohonan" if stashed["kind"] == "request" else "keberatan"
            await self.s._say(resident, self._t("dialogue.stashed", command=command))

    async def _save_and_ask(
        self,
        resident: Resident,
        kind: str,
        step: str,
        data: dict[str, Any],
        resumed: bool = False,
        *,
        back: bool = False,
    ) -> None:
        token = await self.s.storage.save_dialogue(resident.id, kind, step, data)
        if resumed:
            await self.s._say(resident, self._t("dialogue.resumed"))
        current = Dialogue(kind, step, data, True, token, self.s.storage.now())
        await self._ask(resident, current, token, back=back)

    async def _ask(
        self, resident: Resident, current: Dialogue, token: int, *, back: bool = False
    ) -> None:
        steps = _steps_of(current.kind, current.data)
        data = current.data
        step = dialogue.find(steps, current.step) or dialogue.first(steps, data)
        number, total = dialogue.position(steps, step, data)
        lines = [self._t("dialogue.step", n=number, total=total)]
        lines.append(self._t(step.prompt, **self._prompt_values(current.kind, data)))
        buttons: list[list[Button]] = []
        if step.choices:
            for n, choice in enumerate(step.choices, start=1):
                label = choice.label if choice.literal else self._t(choice.label)
                lines.append(f"{n}. {label}")
            buttons.append(
                [
                    Button(str(n), f"d:{token}:{c.value}")
                    for n, c in enumerate(step.choices, start=1)
                ][:8]
            )
        suggestion = step.suggested(data)
        if suggestion:
            lines.append(self._t("dialogue.suggestion", value=shorten(suggestion, 200)))
            buttons.append([Button(self._t("dialogue.use_suggestion"), f"d:{token}:1")])
        if back and step.name in data and not step.choices:
            lines.append(self._t("dialogue.previous", value=shorten(str(data[step.name]), 200)))
        first = dialogue.preceding(steps, step, data) is None
        lines.append(self._t("dialogue.hint_first" if first else "dialogue.hint"))
        nav = [Button(self._t("button.cancel"), f"d:{token}:cancel")]
        if not first:
            nav.insert(0, Button(self._t("button.back"), f"d:{token}:back"))
        buttons.append(nav)
        await self.s._say(resident, "\n".join(lines), buttons)

    def _prompt_values(self, kind: str, data: Data) -> dict[str, object]:
        values: dict[str, object] = {"days": self._cfg.deadline_working_days}
        if kind == "request":
            values["summary"] = self._summary(data)
        else:
            values["request"] = data.get("request", "")
            reason = data.get("reason")
            values["summary"] = "\n".join(
                [
                    self._t("objection.summary_request", number=data.get("request", "")),
                    self._t(
                        "objection.summary_reason",
                        reason=self._t(f"objection.reason.{reason}") if reason else "-",
                    ),
                    self._t(
                        "objection.summary_detail", detail=shorten(str(data.get("detail", "")), 500)
                    ),
                ]
            )
        return values

    def _summary(self, data: Data) -> str:
        delivery = data.get("delivery")
        how = self._t(f"ppid.delivery.{delivery}") if delivery else "-"
        if delivery == "email":
            how += f" ({data.get('email') or data.get('contact')})"
        return "\n".join(
            [
                self._t("ppid.summary_name", value=data.get("name", "-")),
                self._t("ppid.summary_contact", value=data.get("contact", "-")),
                self._t("ppid.summary_info", value=shorten(str(data.get("info", "-")), 600)),
                self._t("ppid.summary_purpose", value=shorten(str(data.get("purpose", "-")), 300)),
                self._t("ppid.summary_delivery", value=how),
            ]
        )

    # ------------------------------------------------------------------ filing

    async def _file_request(self, resident: Resident, data: dict[str, Any]) -> None:
        opd = self._route(str(data["info"]))
        email = data.get("email") or (data["contact"] if _EMAIL.match(data["contact"]) else None)
        fields = {
            "name": data["name"],
            "contact": data["contact"],
            "info": data["info"],
            "purpose": data["purpose"],
            "delivery": data["delivery"],
            "email": email if data["delivery"] == "email" else None,
        }
        now = self.s.storage.now()
        local = self._local_day(now)
        pattern = self._cfg.number_format
        request = await self.s.storage.create_request(
            resident.id,
            fields,
            opd,
            lambda seq: format_number(pattern, local, seq),
            f"request:{local.year}",
            self._due,
        )
        log.info("event=request_filed request=%s opd=%s", request.id, opd)
        ticket = await self.s.storage.ticket(request.ticket_id)
        if ticket is not None and ticket.post_message_id is None:
            await self.s._post_ticket(ticket)
        received = self._date(now)
        counted = self.s.calendar.receipt_day(now)
        if counted != local:
            # After closing time or on a holiday: the legal count starts the next working day.
            received += "\n" + self._t("ppid.counted_from", day=long_date(counted, weekday=True))
        await self.s._say(
            resident,
            self._t(
                "ppid.filed",
                number=request.number,
                opd=self.s._opd_label(opd) if opd else self._t("ppid.no_opd"),
                received=received,
                due=self._date(request.due_at),
                days=self._cfg.deadline_working_days,
            ),
        )

    def _route(self, info: str) -> str | None:
        """The OPD a request is for: one it names (its id, alias or name), else the matcher's
        guess from the knowledge, else ppid.default_opd; admins can still move it."""
        words = f" {' '.join(raw_tokens(info))} "
        named = [
            opd.id
            for opd in self.s.kb.opds.values()
            if opd.id != CLARIFY_OPD
            and any(
                f" {' '.join(raw_tokens(label))} " in words
                for label in (opd.id, opd.name, *opd.aliases)
                if raw_tokens(label)
            )
        ]
        if len(named) == 1:
            return named[0]
        guess = self.s.matcher.match(info).opd
        if guess in (None, CLARIFY_OPD):
            guess = self._cfg.default_opd
        return guess if guess in self.s.kb.opds else None

    async def _file_objection(self, resident: Resident, data: dict[str, Any]) -> None:
        request = await self.s.storage.request_by_number(str(data["request"]))
        eligible = {r.id for r in await self._objectable(resident)}
        if request is None or request.resident_id != resident.id or request.id not in eligible:
            # The window closed (or an objection was filed) while the dialogue was open.
            await self.s._say(
                resident, self._t("objection.none", days=self._cfg.objection_working_days)
            )
            return
        now = self.s.storage.now()
        local = self._local_day(now)
        pattern = self._cfg.objection_format
        objection = await self.s.storage.create_objection(
            request.id,
            resident.id,
            str(data["reason"]),
            str(data["detail"]),
            lambda seq: format_number(pattern, local, seq),
            f"objection:{local.year}",
            lambda moment: self.s.calendar.deadline(moment, self._cfg.superior_working_days),
        )
        log.info("event=objection_filed objection=%s request=%s", objection.id, request.id)
        if objection.message_id is None:
            await self._post_objection(objection, request)
        await self.s._say(
            resident,
            self._t(
                "objection.filed",
                number=objection.number,
                request=request.number,
                due=self._date(objection.due_at),
                days=self._cfg.superior_working_days,
            ),
        )

    def _superior_chat(self) -> int | None:
        return self._cfg.superior_chat_id or self.s.admin_chat

    async def _post_objection(self, objection: Objection, request: InfoRequest) -> None:
        chat = self._superior_chat()
        if chat is None:
            log.warning("event=objection_not_posted objection=%s reason=no_chat", objection.id)
            return
        history = [self._t("objection.post_received", date=self._date(request.received_at))]
        if request.extended_at:
            history.append(
                self._t("objection.post_extended", reason=request.extension_reason or "")
            )
        if request.status == "refused":
            history.append(
                self._t(
                    "objection.post_refused",
                    letter=request.refusal_category or "-",
                    reason=request.refusal_reason or "",
                )
            )
        elif request.status == "answered" and request.decided_at:
            history.append(self._t("objection.post_answered", date=self._date(request.decided_at)))
        else:
            history.append(self._t("objection.post_lapsed", date=self._date(request.due_at)))
        text = self._t(
            "objection.post",
            number=objection.number,
            request=request.number,
            opd=self.s._opd_label(request.opd),
            name=request.name,
            info=shorten(request.info, 600),
            reason=self._t(f"objection.reason.{objection.reason}"),
            detail=shorten(objection.detail, 1200),
            history="\n".join(history),
            due=self._date(objection.due_at),
        )
        try:
            mid = await self.s.messenger.send(chat, text)
        except DeliveryError as exc:
            log.error(
                "event=objection_post_failed objection=%s reason=%s", objection.id, exc.reason
            )
            return
        await self.s.storage.record_objection_post(objection.id, chat, mid)

    async def superior_reply(self, msg: Incoming) -> bool:
        """A reply to an objection's post in the superior's chat: the answer, relayed to the
        resident. False when the message is not about an objection."""
        if msg.reply_to is None or msg.chat_id != self._superior_chat():
            return False
        objection = await self.s.storage.objection_of_message(msg.chat_id, msg.reply_to)
        if objection is None:
            return False
        request = await self.s.storage.request(objection.request_id)
        if request is None:
            return True
        head = self._t("objection.answer_head", number=objection.number, request=request.number)
        try:
            if msg.media is None and msg.text:
                for part in split_message(f"{head}\n\n{msg.text}"):
                    await self.s.messenger.send(request.resident_chat_id, part)
            else:
                await self.s.messenger.send(request.resident_chat_id, head)
                await self.s.messenger.copy(request.resident_chat_id, msg.chat_id, msg.message_id)
        except DeliveryError as exc:
            log.warning(
                "event=objection_answer_undelivered objection=%s reason=%s",
                objection.id,
                exc.reason,
            )
            await self._notice(
                msg.chat_id,
                self._t("objection.undelivered", number=objection.number),
                msg.message_id,
            )
            return True
        await self.s.storage.answer_objection(objection.id)
        log.info("event=objection_answered objection=%s", objection.id)
        await self._notice(
            msg.chat_id, self._t("objection.delivered", number=objection.number), msg.message_id
        )
        return True

    async def _notice(self, chat: int, text: str, reply_to: int | None) -> None:
        try:
            await self.s.messenger.send(chat, text, reply_to=reply_to)
        except DeliveryError as exc:
            log.warning("event=notice_failed reason=%s", exc.reason)

    # ------------------------------------------------------------------ the admin group

    def post_text(self, ticket: Ticket, request: InfoRequest) -> str:
        now = self.s.storage.now()
        how = self._t(f"ppid.delivery.{request.delivery}")
        if request.delivery == "email" and request.email:
            how += f" ({request.email})"
        if request.status == "open":
            status = self._t(
                "ppid.status_open",
                due=self._date(request.due_at),
                left=self._left(request.due_at, now),
            )
            if now > request.due_at:
                status = self._t("ppid.status_late", due=self._date(request.due_at))
        elif request.status == "answered":
            status = self._t("ppid.status_answered", date=self._date(request.decided_at or now))
        else:
            status = self._t("ppid.status_refused", letter=request.refusal_category or "-")
        if request.extended_at and request.status == "open":
            status += " · " + self._t("ppid.extended_mark")
        if ticket.claimed_name and request.status == "open":
            status += " · " + self.s._t("admin.claimed_by", name=ticket.claimed_name)
        lines = [
            self._t(
                "ppid.post_head",
                number=request.number,
                ticket=ticket.id,
                opd=self.s._opd_label(ticket.opd),
            ),
            self._t("ppid.post_from", name=request.name, telegram=ticket.resident_name),
            self._t("ppid.summary_contact", value=request.contact),
            "",
            self._t("ppid.summary_info", value=shorten(request.info, 1500)),
            self._t("ppid.summary_purpose", value=shorten(request.purpose, 500)),
            self._t("ppid.summary_delivery", value=how),
            self._t("ppid.post_received", date=self._date(request.received_at)),
            "",
            status,
        ]
        if request.status == "open":
            year = self._local_day(request.due_at).year
            if not self.s.calendar.covers(year):
                # A year missing from the holidays file counts its holidays as working days.
                lines.append(self._t("ppid.uncovered_year", year=year))
            lines.append(self._t("ppid.post_hint", ticket=ticket.id))
        return "\n".join(lines)

    def post_buttons(self, ticket: Ticket, request: InfoRequest) -> Buttons:
        if request.status != "open":
            return ()
        return [
            [
                Button(self.s._t("button.claim"), f"a:claim:{ticket.id}"),
                Button(self.s._t("button.move"), f"a:move:{ticket.id}"),
            ]
        ]

    async def find(self, arg: str) -> InfoRequest | None:
        """A request by its ticket number (#57 or 57) or its registration number."""
        raw = arg.strip().lstrip("#")
        if raw.isdecimal() and len(raw) <= 12:
            return await self.s.storage.request_of_ticket(int(raw))
        return await self.s.storage.request_by_number(raw[:60])

    async def admin_command(
        self, msg: Incoming, command: str, args: list[str]
    ) -> tuple[str, Ticket | None] | None:
        """/permohonan, /perpanjang, /jawab, /tolak; the reply text and the ticket it is
        about (so it goes into that ticket's thread), or None for other commands."""
        if command in ("permohonan", "daftar_permohonan"):
            return await self._list_text(), None
        if command not in ("perpanjang", "jawab", "tolak"):
            return None
        usage = self._t(f"ppid.usage_{command}")
        if command == "tolak":
            usage += "\n" + self._exemption_list()
        if not args:
            return usage, None
        request = await self.find(args[0])
        if request is None:
            return self._t("ppid.no_request", number=shorten(args[0], 30)), None
        ticket = await self.s.storage.ticket(request.ticket_id)
        if request.status != "open":
            return self._t("ppid.already_done", number=request.number), ticket
        rest = " ".join(args[1:]).strip()
        if command == "perpanjang":
            return await self._extend(request, rest, msg.sender, usage), ticket
        if command == "tolak":
            return await self._refuse(request, args[1:], msg.sender, usage), ticket
        return await self._answer(request, rest, msg, usage), ticket

    async def _list_text(self) -> str:
        requests = await self.s.storage.open_requests()
        if not requests:
            return self._t("ppid.list_empty")
        now = self.s.storage.now()
        requests.sort(key=lambda r: r.due_at)
        lines = [self._t("ppid.list_head", count=len(requests))]
        for request in requests[:40]:
            if now > request.due_at:
                when = self._t("ppid.list_late", due=self._date(request.due_at))
            else:
                when = self._t(
                    "ppid.list_due",
                    due=self._date(request.due_at),
                    left=self._left(request.due_at, now),
                )
            mark = " · " + self._t("ppid.extended_mark") if request.extended_at else ""
            lines.append(
                f"#{request.ticket_id} · {request.number} · {self.s._opd_label(request.opd)}\n"
                f"   {when}{mark}\n   {shorten(request.info, 70)}"
            )
        if len(requests) > 40:
            lines.append(self._t("ppid.list_more", count=len(requests) - 40))
        return "\n".join(lines)

    async def _extend(self, request: InfoRequest, reason: str, sender: Person, usage: str) -> str:
        if request.extended_at is not None:
            return self._t("ppid.extended_already", number=request.number)
        if self.s.storage.now() > request.due_at:
            # UU 14/2008 art. 22(8): the extension is given within the 10 days, not after.
            return self._t("ppid.extend_too_late", number=request.number, ticket=request.ticket_id)
        if len(reason) < MIN_REASON:
            return self._t("ppid.reason_needed", n=MIN_REASON) + "\n" + usage
        days = self._cfg.extension_working_days
        if days <= 0:
            return self._t("ppid.no_extension")
        cal = self.s.calendar
        due_day = cal.add_working_days(self._local_day(request.due_at), days)
        due = dt.datetime.combine(due_day, cal.work_end, tzinfo=cal.tz).astimezone(dt.UTC)
        if not await self.s.storage.extend_request(
            request.id, due, shorten(reason, 500), sender.name
        ):
            return self._t("ppid.extended_already", number=request.number)
        log.info("event=request_extended request=%s", request.id)
        await self._tell(
            request,
            self._t(
                "ppid.resident_extended",
                number=request.number,
                days=days,
                due=self._date(due),
                reason=shorten(reason, 500),
            ),
        )
        await self.s._refresh_post(request.ticket_id)
        return self._t(
            "ppid.extended", number=request.number, due=self._date(due), name=sender.name
        )

    async def _refuse(
        self, request: InfoRequest, args: Sequence[str], sender: Person, usage: str
    ) -> str:
        letter = (
            args[0].lower().removeprefix("pasal").removeprefix("17").strip("()./") if args else ""
        )
        reason = " ".join(args[1:]).strip()
        if letter not in EXEMPTIONS:
            return usage
        if len(reason) < MIN_REASON:
            return self._t("ppid.reason_needed", n=MIN_REASON) + "\n" + usage
        reason = shorten(reason, 1000)
        if not await self.s.storage.decide_request(
            request.id, "refused", sender.name, reason, letter
        ):
            return self._t("ppid.already_done", number=request.number)
        log.info("event=request_refused request=%s category=%s", request.id, letter)
        await self._tell_decided(
            request,
            "ppid.resident_refused",
            letter=letter,
            exemption=self._t(f"ppid.exempt.{letter}"),
            reason=reason,
        )
        await self.s._refresh_post(request.ticket_id)
        return self._t("ppid.refused", number=request.number, letter=letter, name=sender.name)

    async def _answer(self, request: InfoRequest, note: str, msg: Incoming, usage: str) -> str:
        # The message the command replies to is the answer (a document, a photo, a text),
        # unless it is one of the bot's own posts (the request post: not for the resident).
        attachment = msg.reply_to if msg.reply_to and not msg.reply_to_bot_text else None
        if msg.reply_to is not None and msg.thread_id is not None and msg.reply_to == msg.thread_id:
            attachment = None  # a forum topic's creation message, not a reply
        if attachment is None and not note:
            return usage
        head = self._t("ppid.answer_head", number=request.number)
        try:
            if note:
                for part in split_message(f"{head}\n\n{note}"):
                    await self.s.messenger.send(request.resident_chat_id, part)
            else:
                await self.s.messenger.send(request.resident_chat_id, head)
            if attachment is not None:
                await self.s.messenger.copy(request.resident_chat_id, msg.chat_id, attachment)
        except DeliveryError as exc:
            log.warning(
                "event=request_answer_undelivered request=%s reason=%s", request.id, exc.reason
            )
            return self._t("ppid.undelivered", number=request.number)
        await self.s.storage.decide_request(
            request.id, "answered", msg.sender.name, shorten(note, 500)
        )
        now = self.s.storage.now()
        on_time = now <= request.due_at
        log.info("event=request_answered request=%s on_time=%s", request.id, on_time)
        await self._tell_decided(request, "ppid.resident_answered")
        await self.s._refresh_post(request.ticket_id)
        key = "ppid.answered" if on_time else "ppid.answered_late"
        return self._t(key, number=request.number, name=msg.sender.name)

    async def _tell_decided(self, request: InfoRequest, key: str, **values: object) -> None:
        """Tell the requester the decision and until when they may object to it."""
        decided = await self.s.storage.request(request.id) or request
        until = self._objection_window(decided)
        text = self._t(
            key,
            number=request.number,
            days=self._cfg.objection_working_days,
            until=self._date(until) if until else "-",
            **values,
        )
        await self._tell(request, text)

    async def _tell(self, request: InfoRequest, text: str) -> None:
        try:
            for part in split_message(text):
                await self.s.messenger.send(request.resident_chat_id, part)
        except DeliveryError as exc:
            log.warning("event=request_notice_failed request=%s reason=%s", request.id, exc.reason)

    def _exemption_list(self) -> str:
        return "\n".join(f"{c}. {self._t(f'ppid.exempt.{c}')}" for c in EXEMPTIONS)

    # ------------------------------------------------------------------ deadlines

    async def check_deadlines(self) -> int:
        """Reminders in the thread of requests close to their deadline, and, once a deadline
        passed unanswered, a notice to the resident (with how to object) and in the thread.
        Each is flagged before it is sent, so a restart does not repeat it, and the flag is
        taken back when the send fails, so the next check sends it after all."""
        now = self.s.storage.now()
        sent = 0
        for request in sorted(await self.s.storage.open_requests(), key=lambda r: r.due_at):
            if sent >= NOTICES_PER_CHECK:
                break
            ticket = await self.s.storage.ticket(request.ticket_id)
            if ticket is None:
                continue
            lapsed = now > request.due_at
            flag: Literal["reminded_soon", "lapse_told"] = (
                "lapse_told" if lapsed else "reminded_soon"
            )
            if lapsed and request.lapse_told:
                continue
            left = self._days_left(request.due_at, now)
            if not lapsed and (request.reminded_soon or left > self._cfg.remind_days_before):
                continue
            if not await self.s.storage.mark_request(request.id, flag):
                continue
            try:
                if lapsed:
                    await self._lapse(request, ticket)
                else:
                    await self._remind(request, ticket, left)
            except DeliveryError as exc:
                await self.s.storage.unmark_request(request.id, flag)
                log.warning(
                    "event=deadline_notice_failed request=%s reason=%s", request.id, exc.reason
                )
                break  # Telegram or the group unreachable: the next check tries again
            except BaseException:
                await self.s.storage.unmark_request(request.id, flag)
                raise
            sent += 1
        return sent

    async def _remind(self, request: InfoRequest, ticket: Ticket, left: int) -> None:
        if self.s.admin_chat is None:
            return
        text = self._t(
            "ppid.reminder",
            number=request.number,
            ticket=ticket.id,
            due=self._date(request.due_at),
            left=self._t("ppid.left_days", n=left) if left else self._t("ppid.left_today"),
        )
        await self.s._send_in_thread(ticket, text, reply_to=ticket.post_message_id)

    async def _lapse(self, request: InfoRequest, ticket: Ticket) -> None:
        until = self.s.calendar.deadline(request.due_at, self._cfg.objection_working_days)
        text = self._t(
            "ppid.resident_lapsed",
            number=request.number,
            due=self._date(request.due_at),
            days=self._cfg.objection_working_days,
            until=self._date(until),
        )
        try:
            for part in split_message(text):
                await self.s.messenger.send(request.resident_chat_id, part)
        except DeliveryError as exc:
            if exc.reason in ("transient", "unreachable"):
                raise  # an outage: unflagged, the next check tries again
            # Blocked the bot, say: nothing to retry; the thread is still told.
            log.info("event=lapse_notice_undelivered request=%s reason=%s", request.id, exc.reason)
        log.info("event=request_lapsed request=%s", request.id)
        if self.s.admin_chat is not None:
            notice = self._t(
                "ppid.lapsed",
                number=request.number,
                ticket=ticket.id,
                due=self._date(request.due_at),
            )
            try:
                await self.s._send_in_thread(ticket, notice, reply_to=ticket.post_message_id)
            except DeliveryError as exc:  # the resident was told: do not tell them twice
                log.warning("event=lapse_not_posted ticket=%s reason=%s", ticket.id, exc.reason)
        await self.s._refresh_post(ticket.id)

    # ------------------------------------------------------------------ status

    async def status_lines(self, resident: Resident) -> list[str]:
        lines = []
        now = self.s.storage.now()
        for request in await self.s.storage.resident_requests(resident.id):
            if request.status == "open":
                state = self._t("ppid.mine_open", due=self._date(request.due_at))
                if now > request.due_at:
                    state = self._t("ppid.mine_late")
            else:
                state = self._t(f"ppid.mine_{request.status}")
            lines.append(f"{request.number} · {state} · {shorten(request.info, 50)}")
        return lines


# Where a dialogue keeps the one it interrupted (see PpidDesk._end).
STASH = "_interrupted"


def _stash(data: dict[str, Any], paused: Dialogue | None) -> None:
    if paused is not None:
        inner = {k: v for k, v in paused.data.items() if k != STASH}  # one level is enough
        data[STASH] = {"kind": paused.kind, "step": paused.step, "data": inner}


def _prefix(kind: str) -> str:
    return "ppid" if kind == "request" else "objection"


def _plausible(name: str) -> bool:
    try:
        _name(name, {})
    except Invalid:
        return False
    return True


def is_request(ticket: Ticket) -> bool:
    return ticket.kind == REQUEST_KIND
