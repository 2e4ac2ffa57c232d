"""The knowledge base: one YAML file per OPD, loaded and validated by the same code.

The people who edit these files are civil servants, not programmers, so validation walks the YAML
node tree (which keeps line numbers) instead of the loaded dicts, and every problem names the
file, the line, the entry and what to do, in Indonesian. The bot, `tanya kb check` and the tests
all go through `check_knowledge`, so what the check accepts is exactly what the bot serves.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.i18n import t

TELEGRAM_MESSAGE_LIMIT = 4096
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml parsing (about ten times faster, line marks kept) with a minimal resolver.

    The checker reads every scalar as text (dates are parsed by `_date`), so it only needs to know
    which plain scalars are null; PyYAML's full implicit resolver is a third of the load time of a
    10,000-entry knowledge base.
    """

    def resolve(self, kind, value, implicit):  # type: ignore[no-untyped-def]
        if kind is ScalarNode:
            return _NULL_TAG if implicit[0] and value in _NULLS else _STR_TAG
        return super().resolve(kind, value, implicit)


_LOADER = _FastLoader
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

TOP_KEYS = ("opd", "entries", "synonyms")
OPD_KEYS = ("id", "name", "aliases", "contact")
ENTRY_KEYS = ("id", "questions", "keywords", "answer", "links", "updated")

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Opd:
    """An agency (Organisasi Perangkat Daerah) and how residents can reach it."""

    id: str
    name: str
    contact: str | None = None
    aliases: tuple[str, ...] = ()
    file: Path | None = None


@dataclass(frozen=True)
class Entry:
    """One question-and-answer of an OPD."""

    opd_id: str
    id: str
    questions: tuple[str, ...]
    answer: str
    keywords: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    updated: dt.date | None = None
    file: Path | None = None
    line: int = 0

    @property
    def uid(self) -> str:
        """The id used everywhere outside the file: `opd/entry`."""
        return f"{self.opd_id}/{self.id}"


@dataclass(frozen=True)
class KnowledgeBase:
    opds: dict[str, Opd]
    entries: tuple[Entry, ...]
    # canonical term -> variants, from the files' optional `synonyms:` sections
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def entry(self, uid: str) -> Entry | None:
        return self._by_uid.get(uid)

    @property
    def _by_uid(self) -> dict[str, Entry]:
        cache = self.__dict__.get("_uid_cache")
        if cache is None:
            cache = {e.uid: e for e in self.entries}
            object.__setattr__(self, "_uid_cache", cache)
        return cache


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or suspicious) in a knowledge file, ready to show an editor."""

    severity: Severity
    file: Path
    line: int | None
    message: str
    entry_id: str | None = None

    def render(self, root: Path | None = None) -> str:
        name = self.file
        if root is not None and self.file.is_relative_to(root):
            name = self.file.relative_to(root)
        where = f"{name}:{self.line}" if self.line else f"{name}"
        label = t("kb.error") if self.severity == "error" else t("kb.warning")
        entry = t("kb.in_entry", entry=self.entry_id) if self.entry_id else ""
        return f"{where}: {label}{entry}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge folder has errors; `problems` says which, where and what to do."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in the knowledge base")


def knowledge_files(folder: Path) -> list[Path]:
    """The OPD files of a folder: `*.yaml`/`*.yml` at top level, not drafts or hidden files."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(("_", "."))
    )


def load_knowledge(folder: str | Path) -> KnowledgeBase:
    """Load a knowledge folder for serving; raise KnowledgeError if it has any error."""
    kb, problems = check_knowledge(folder)
    if kb is None:
        raise KnowledgeError(problems)
    return kb


def check_knowledge(folder: str | Path) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Validate every file; return the knowledge base (None if any error) and all problems."""
    folder = Path(folder)
    problems: list[Problem] = []
    if not folder.is_dir():
        problems.append(Problem("error", folder, None, t("kb.no_folder")))
        return None, problems
    files = knowledge_files(folder)
    if not files:
        problems.append(Problem("error", folder, None, t("kb.no_files")))
        return None, problems

    opds: dict[str, Opd] = {}
    entries: list[Entry] = []
    synonyms: dict[str, tuple[str, ...]] = {}
    seen_opd: dict[str, Path] = {}
    for file in files:
        parsed = _FileChecker(file).run()
        problems.extend(parsed.problems)
        if parsed.opd is None:
            continue
        other = seen_opd.get(parsed.opd.id)
        if other is not None:
            problems.append(
                Problem(
                    "error",
                    file,
                    parsed.opd_line,
                    t("kb.duplicate_opd", id=parsed.opd.id, other=other.name),
                )
            )
            continue
        seen_opd[parsed.opd.id] = file
        opds[parsed.opd.id] = parsed.opd
        entries.extend(parsed.entries)
        for canonical, variants in parsed.synonyms.items():
            synonyms[canonical] = tuple(dict.fromkeys(synonyms.get(canonical, ()) + variants))

    if any(p.severity == "error" for p in problems):
        return None, problems
    return KnowledgeBase(opds=opds, entries=tuple(entries), synonyms=synonyms), problems


# --- one file -------------------------------------------------------------------------------


@dataclass
class _Parsed:
    problems: list[Problem] = field(default_factory=list)
    opd: Opd | None = None
    opd_line: int | None = None
    entries: list[Entry] = field(default_factory=list)
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class _FileChecker:
    """Validates one OPD file, collecting every problem instead of stopping at the first."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.out = _Parsed()

    def problem(
        self, line: int | None, message: str, entry: str | None = None, severity: Severity = "error"
    ) -> None:
        self.out.problems.append(Problem(severity, self.file, line, message, entry))

    def run(self) -> _Parsed:
        text = self._read()
        if text is None:
            return self.out
        try:
            root = _compose(text)
        except yaml.reader.ReaderError as exc:
            # Control characters (Word's soft line break, NUL) are not allowed in YAML.
            self.problem(text[: exc.position].count("\n") + 1, t("kb.control_character"))
            return self.out
        except yaml.YAMLError as exc:
            # Tabs in indentation are the commonest cause; name them rather than the symptom.
            if not self._tabs(text):
                if isinstance(exc, yaml.MarkedYAMLError):
                    self._yaml_error(exc)
                else:  # pragma: no cover - PyYAML marks every parse error but ReaderError
                    self.problem(None, t("kb.yaml_generic", detail=str(exc)))
            return self.out
        if root is None:
            self.problem(1, t("kb.empty_file"))
            return self.out
        self._lines = text.splitlines()
        self._root(root)
        return self.out

    def _warn_cut_comment(self, node: Node, entry: str | None) -> None:
        """Warn when ' #' after an unquoted value silently turned the rest into a comment."""
        if not isinstance(node, ScalarNode) or node.style:  # plain style: None or ""
            return
        line = node.end_mark.line
        if line < len(getattr(self, "_lines", ())):
            rest = self._lines[line][node.end_mark.column :]
            if re.match(r"\s+#", rest):
                self.problem(line + 1, t("kb.hash_comment"), entry, severity="warning")

    # -- text level

    def _read(self) -> str | None:
        try:
            data = self.file.read_bytes()
        except OSError as exc:
            self.problem(None, t("kb.unreadable", detail=exc.strerror or str(exc)))
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.problem(line, t("kb.not_utf8"))
            return None

    def _tabs(self, text: str) -> bool:
        if "\t" not in text:
            return False
        found = False
        for number, line in enumerate(text.splitlines(), start=1):
            indent = line[: len(line) - len(line.lstrip(" \t"))]
            if "\t" in indent:
                self.problem(number, t("kb.tab"))
                found = True
        return found

    def _yaml_error(self, exc: yaml.MarkedYAMLError) -> None:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or "").lower()
        context = (exc.context or "").lower()
        if "quoted scalar" in context:
            line = exc.context_mark.line + 1 if exc.context_mark else line
            key = "kb.yaml_quote"
        elif "mapping values are not allowed" in problem:
            key = "kb.yaml_colon"
        elif "expected <block end>" in problem or "could not find expected ':'" in problem:
            key = "kb.yaml_indent"
        elif "expected ',' or ']'" in problem or "flow sequence" in context:
            key = "kb.yaml_bracket"
        else:
            key = "kb.yaml_other"
        self.problem(line, t(key, detail=(exc.problem or exc.context or "").strip()))

    # -- structure level

    def _mapping(
        self, node: Node, allowed: Iterable[str], entry: str | None, where: str
    ) -> dict[str, tuple[Node, Node]] | None:
        """Return key -> (key node, value node), reporting unknown and repeated keys."""
        if not isinstance(node, MappingNode):
            self.problem(_line(node), t("kb.not_mapping", where=where), entry)
            return None
        allowed = tuple(allowed)
        result: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in result:
                self.problem(_line(key_node), t("kb.repeated_key", key=key), entry)
                continue
            if key not in allowed:
                guess = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
                hint = t("kb.did_you_mean", guess=guess[0]) if guess else ""
                self.problem(
                    _line(key_node),
                    t(
                        "kb.unknown_key",
                        key=key,
                        where=where,
                        allowed=", ".join(allowed),
                        hint=hint,
                    ),
                    entry,
                )
                continue
            result[key] = (key_node, value_node)
        return result

    def _text(
        self,
        fields: dict[str, tuple[Node, Node]],
        key: str,
        parent: Node,
        entry: str | None,
        required: bool = True,
    ) -> str | None:
        if key not in fields:
            if required:
                self.problem(_line(parent), t("kb.missing", key=key), entry)
            return None
        key_node, node = fields[key]
        if _is_null(node) or (isinstance(node, ScalarNode) and not str(node.value).strip()):
            if required:
                self.problem(_line(key_node), t("kb.empty", key=key), entry)
            return None
        if not isinstance(node, ScalarNode):
            self.problem(_line(node), t("kb.not_text", key=key), entry)
            return None
        return str(node.value).strip()

    def _texts(
        self,
        fields: dict[str, tuple[Node, Node]],
        key: str,
        parent: Node,
        entry: str | None,
        required: bool,
    ) -> tuple[str, ...]:
        if key not in fields:
            if required:
                self.problem(_line(parent), t("kb.missing_list", key=key), entry)
            return ()
        key_node, node = fields[key]
        if _is_null(node):
            if required:
                self.problem(_line(key_node), t("kb.empty_list", key=key), entry)
            return ()
        if not isinstance(node, SequenceNode):
            self.problem(_line(node), t("kb.not_list", key=key), entry)
            return ()
        values: list[str] = []
        for item in node.value:
            if not isinstance(item, ScalarNode):
                self.problem(_line(item), t("kb.list_item_not_text", key=key), entry)
            elif _is_null(item) or not str(item.value).strip():
                self.problem(_line(item), t("kb.list_item_empty", key=key), entry)
            else:
                values.append(str(item.value).strip())
        if required and not values and not node.value:
            self.problem(_line(key_node), t("kb.empty_list", key=key), entry)
        return tuple(values)

    def _root(self, root: Node) -> None:
        fields = self._mapping(root, TOP_KEYS, None, t("kb.where_top"))
        if fields is None:
            return
        opd = self._opd(fields, root)
        if "entries" not in fields:
            self.problem(_line(root), t("kb.missing_list", key="entries"))
            return
        if "synonyms" in fields:
            self._synonyms(fields["synonyms"][1])
        entries_node = fields["entries"][1]
        if not isinstance(entries_node, SequenceNode) or not entries_node.value:
            self.problem(_line(entries_node), t("kb.no_entries"))
            return
        seen: dict[str, int] = {}
        opd_id = opd.id if opd else "?"
        for node in entries_node.value:
            entry = self._entry(node, opd_id)
            if entry is None:
                continue
            if entry.id in seen:
                self.problem(
                    entry.line, t("kb.duplicate_entry", id=entry.id, other=seen[entry.id]), entry.id
                )
                continue
            seen[entry.id] = entry.line
            self.out.entries.append(entry)

    def _opd(self, fields: dict[str, tuple[Node, Node]], root: Node) -> Opd | None:
        if "opd" not in fields:
            self.problem(_line(root), t("kb.missing_opd"))
            return None
        key_node, node = fields["opd"]
        opd_fields = self._mapping(node, OPD_KEYS, None, "opd")
        if opd_fields is None:
            return None
        opd_id = self._text(opd_fields, "id", node, None)
        name = self._text(opd_fields, "name", node, None)
        contact = self._text(opd_fields, "contact", node, None, required=False)
        aliases = self._texts(opd_fields, "aliases", node, None, required=False)
        if opd_id is not None and not SLUG.match(opd_id):
            self.problem(_line(opd_fields["id"][1]), t("kb.bad_slug", value=opd_id))
            return None
        if opd_id is None or name is None:
            return None
        if self.file.stem != opd_id:
            self.problem(
                _line(opd_fields["id"][1]),
                t("kb.file_name", id=opd_id, file=self.file.name),
                severity="warning",
            )
        self.out.opd_line = _line(key_node)
        self.out.opd = Opd(opd_id, name, contact, aliases, self.file)
        return self.out.opd

    def _synonyms(self, node: Node) -> None:
        if not isinstance(node, MappingNode):
            self.problem(_line(node), t("kb.not_mapping", where="synonyms"))
            return
        for key_node, value_node in node.value:
            canonical = str(key_node.value).strip().lower()
            if not re.search(r"[a-z0-9]", canonical):
                # A term with no letters would make its variants vanish from every message.
                self.problem(_line(key_node), t("kb.bad_synonym_term", key=canonical))
                continue
            if isinstance(value_node, SequenceNode) and all(
                isinstance(v, ScalarNode)
                and not _is_null(v)
                and re.search(r"[a-z0-9]", str(v.value).lower())
                for v in value_node.value
            ):
                variants = tuple(str(v.value).strip().lower() for v in value_node.value)
                self.out.synonyms[canonical] = variants
            else:
                self.problem(_line(value_node), t("kb.bad_synonyms", key=canonical))

    def _entry(self, node: Node, opd_id: str) -> Entry | None:
        if not isinstance(node, MappingNode):
            self.problem(_line(node), t("kb.entry_not_mapping"))
            return None
        # Find the id first so every later problem can name the entry.
        raw_id = next(
            (
                str(v.value).strip()
                for k, v in node.value
                if k.value == "id" and isinstance(v, ScalarNode)
            ),
            None,
        )
        label = raw_id or t("kb.entry_without_id", line=_line(node))
        fields = self._mapping(node, ENTRY_KEYS, label, t("kb.where_entry"))
        if fields is None:
            return None
        before = len(self.out.problems)
        entry_id = self._text(fields, "id", node, label)
        if entry_id is not None and not SLUG.match(entry_id):
            self.problem(_line(fields["id"][1]), t("kb.bad_slug", value=entry_id), label)
        questions = self._texts(fields, "questions", node, label, required=True)
        keywords = self._texts(fields, "keywords", node, label, required=False)
        links = self._texts(fields, "links", node, label, required=False)
        for link_node in _items(fields.get("links")):
            value = str(link_node.value).strip()
            if value and not re.match(r"^https?://\S+$", value):
                self.problem(_line(link_node), t("kb.bad_link", value=value), label)
        answer = self._text(fields, "answer", node, label)
        if "answer" in fields:
            self._warn_cut_comment(fields["answer"][1], label)
        for item in _items(fields.get("questions")):
            self._warn_cut_comment(item, label)
        if answer is not None:
            # What the resident receives is the answer plus its links and the source line, and
            # Telegram counts UTF-16 units, so that is what has to fit.
            source = t(
                "reply.source_dated",
                opd=self.out.opd.name if self.out.opd else "",
                date="30 September 2025",
            )
            sent = "\n\n".join([answer, *(["\n".join(links)] if links else []), source])
            length = len(sent.encode("utf-16-le")) // 2
            if length > TELEGRAM_MESSAGE_LIMIT:
                self.problem(
                    _line(fields["answer"][1]),
                    t("kb.answer_too_long", length=length, limit=TELEGRAM_MESSAGE_LIMIT),
                    label,
                )
        updated = self._date(fields, label)
        errors = [p for p in self.out.problems[before:] if p.severity == "error"]
        if errors or entry_id is None or answer is None or not questions:
            return None
        return Entry(
            opd_id=opd_id,
            id=entry_id,
            questions=questions,
            answer=answer,
            keywords=keywords,
            links=links,
            updated=updated,
            file=self.file,
            line=_line(node),
        )

    def _date(self, fields: dict[str, tuple[Node, Node]], label: str) -> dt.date | None:
        if "updated" not in fields:
            return None
        _, node = fields["updated"]
        if _is_null(node):
            return None
        value = str(node.value).strip() if isinstance(node, ScalarNode) else ""
        match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", value)
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                pass
        self.problem(_line(node), t("kb.bad_date", value=value), label)
        return None


def _compose(text: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        if _LOADER is yaml.SafeLoader:
            raise
    # Parse again with the pure-Python loader: its error messages are the ones we translate.
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _items(pair: tuple[Node, Node] | None) -> list[ScalarNode]:
    if pair is None or not isinstance(pair[1], SequenceNode):
        return []
    return [n for n in pair[1].value if isinstance(n, ScalarNode) and not _is_null(n)]
