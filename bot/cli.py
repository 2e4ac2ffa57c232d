"""The `tanya` command line: check knowledge, ask the matcher, evaluate it, chat offline.

Every command turns bad input (a missing folder, broken YAML, a wrong config key) into one clear
sentence and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from bot.config import Config, ConfigError, load_config
from bot.i18n import t
from bot.knowledge import KnowledgeError, Problem, check_knowledge
from bot.matcher import Matcher, MatchResult
from bot.privacy import mask
from bot.storage import Storage, StorageError

T = TypeVar("T")


def _config(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _kb_dir(config: Config, kb: str | None) -> Path:
    return Path(kb) if kb else config.knowledge.dir


def _knowledge_error(folder: Path, exc: KnowledgeError) -> click.ClickException:
    lines = [p.render() for p in exc.problems if p.severity == "error"]
    shown = "\n".join(lines[:20])
    more = f"\n(+{len(lines) - 20} more)" if len(lines) > 20 else ""
    return click.ClickException(
        f"The knowledge base in {folder} has errors; run 'tanya kb check {folder}'.\n{shown}{more}"
    )


def _matcher(config: Config, folder: Path) -> Matcher:
    from bot.kb_cache import load_matcher

    try:
        return load_matcher(folder, config.matcher, config.knowledge.cache_dir)
    except KnowledgeError as exc:
        raise _knowledge_error(folder, exc) from None


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $TANYA_CONFIG, else ./config.yaml, else built-in defaults).",
)
kb_option = click.option(
    "--kb",
    "kb",
    type=click.Path(file_okay=False),
    default=None,
    help="Knowledge folder (default: knowledge.dir from the config).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tanya")
def main() -> None:
    """tanya: the public-information bot of a regency government."""


@main.group()
def kb() -> None:
    """Work with the knowledge base (one YAML file per OPD)."""


@kb.command("check")
@click.argument("folder", required=False, type=click.Path())
@config_option
def kb_check(folder: str | None, config_path: str | None) -> None:
    """Validate a knowledge folder; exit 1 on errors, warn about questions the bot may confuse."""
    config = _config(config_path)
    path = Path(folder) if folder else config.knowledge.dir
    knowledge, problems = check_knowledge(path)
    if knowledge is not None:
        from bot.kb_similar import similar_question_problems

        problems = problems + similar_question_problems(
            knowledge, Matcher(knowledge, config.matcher)
        )
    for problem in sorted(problems, key=_problem_order):
        click.echo(problem.render(path if path.is_dir() else None))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        click.echo(t("kb.summary_errors", errors=errors, warnings=warnings), err=True)
        sys.exit(1)
    assert knowledge is not None
    click.echo(
        t(
            "kb.summary_ok",
            opds=len(knowledge.opds),
            entries=len(knowledge.entries),
            warnings=warnings,
        )
    )


def _problem_order(problem: Problem) -> tuple[int, str, int]:
    return (0 if problem.severity == "error" else 1, str(problem.file), problem.line or 0)


@main.command()
@click.argument("question")
@kb_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question.")
@config_option
def ask(question: str, kb: str | None, as_json: bool, config_path: str | None) -> None:
    """Ask the matcher one QUESTION, or '-' to read one question per line from stdin."""
    config = _config(config_path)
    matcher = _matcher(config, _kb_dir(config, kb))
    if question == "-":
        out = sys.stdout
        # Bytes in, so one badly encoded line cannot stop the stream (one line in, one out).
        for raw in sys.stdin.buffer:
            text = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            result = matcher.match(text)
            if as_json:
                out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            else:
                out.write(_human(result) + "\n")
            out.flush()
        return
    result = matcher.match(question)
    click.echo(json.dumps(result.to_json(), ensure_ascii=False) if as_json else _human(result))


def _human(result: MatchResult) -> str:
    head = f"{result.decision}"
    if result.entry:
        head += f" {result.entry}"
    head += f" (score {result.score:.1f}"
    head += f", opd {result.opd})" if result.opd else ")"
    cands = "; ".join(f"{c.entry} {c.score:.1f}" for c in result.candidates)
    return f"{head}  candidates: {cands}" if cands else head


@main.command("eval")
@click.argument("cases", type=click.Path(exists=True, dir_okay=False))
@kb_option
@click.option("--json", "as_json", is_flag=True, help="Emit the metrics (and misses) as JSON.")
@click.option("--misses/--no-misses", default=True, help="List the cases the matcher got wrong.")
@config_option
def eval_(cases: str, kb: str | None, as_json: bool, misses: bool, config_path: str | None) -> None:
    """Measure the matcher on labelled CASES (YAML list of {q, expect})."""
    from bot.evaluate import CasesError, check_expectations, evaluate, load_cases

    config = _config(config_path)
    matcher = _matcher(config, _kb_dir(config, kb))
    try:
        loaded = load_cases(Path(cases))
        check_expectations(loaded, {e.uid for e in matcher.entries})
    except CasesError as exc:
        raise click.ClickException(str(exc)) from None
    report = evaluate(matcher, loaded)
    metrics = report.metrics()
    if as_json:
        payload = dict(metrics)
        payload["misses"] = [
            {
                "q": m.case.q,
                "expect": m.case.expect,
                "kind": m.kind,
                **m.result.to_json(),
            }
            for m in report.misses
        ]
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for name in (
        "auto_answer_correct",
        "resolved_at_3",
        "wrong_answer_rate",
        "oos_escalated",
        "smalltalk_ok",
    ):
        click.echo(f"{name:20} {metrics[name]:.3f}")
    click.echo(
        f"{'cases':20} {metrics['cases']} (in scope {metrics['in_scope']}, "
        f"null {metrics['null']}, smalltalk {metrics['smalltalk']})"
    )
    if misses and report.misses:
        click.echo("\nmisses:")
        for miss in report.misses:
            expect = miss.case.expect
            click.echo(f"- [{miss.kind}] {miss.case.q!r} expect={expect} -> {_human(miss.result)}")


@main.command()
@kb_option
@config_option
def chat(kb: str | None, config_path: str | None) -> None:
    """Talk to the bot in the terminal, offline: ask as a resident, answer as the admin."""
    from bot.terminal import run_chat
    from bot.workdays import CalendarError

    config = _config(config_path)
    matcher = _matcher(config, _kb_dir(config, kb))

    def read() -> str | None:
        try:
            return click.prompt(
                t("chat.prompt"), prompt_suffix="> ", default="", show_default=False
            )
        except (EOFError, click.Abort):
            click.echo()
            return None

    try:
        run_chat(config, matcher, read, click.echo)
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from None
    except StorageError as exc:
        raise click.ClickException(
            f"The database (storage.path = {config.storage.path}) cannot be used: {exc}."
        ) from None


@main.group()
def data() -> None:
    """A resident's personal data: a copy for them, or its erasure (UU 27/2022)."""


def _storage_call(config: Config, action: Callable[[Storage], Awaitable[T]]) -> T:
    async def go() -> T:
        storage = await Storage.open(config.storage.path)
        try:
            return await action(storage)
        finally:
            await storage.close()

    try:
        return asyncio.run(go())
    except StorageError as exc:
        raise click.ClickException(
            f"The database (storage.path = {config.storage.path}) cannot be used: {exc}."
        ) from None


@data.command("export")
@click.argument("resident", type=int)
@config_option
def data_export(resident: int, config_path: str | None) -> None:
    """Print what is kept about RESIDENT (their Telegram user id) as JSON, numbers masked."""
    found = _storage_call(_config(config_path), lambda s: s.resident_data(resident))
    if found is None:
        raise click.ClickException(f"No resident with id {resident} in the database.")
    click.echo(mask(json.dumps(found, ensure_ascii=False, indent=2)))


@data.command("forget")
@click.argument("resident", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def data_forget(resident: int, yes: bool, config_path: str | None) -> None:
    """Erase RESIDENT (their Telegram user id): messages, tickets, feedback."""
    config = _config(config_path)
    if not yes:
        click.confirm(f"Erase everything kept about resident {resident}?", abort=True)
    counts = _storage_call(config, lambda s: s.forget_resident(resident))
    if not counts.get("residents"):
        raise click.ClickException(f"No resident with id {resident} in the database.")
    click.echo("Erased: " + ", ".join(f"{n} {name}" for name, n in counts.items() if n) + ".")


# --- `tanya kb gaps` (bot.gaps)


@kb.command("gaps")
@click.option("--since", metavar="YYYY-MM-DD", help="From this day on (local time).")
@click.option("--until", metavar="YYYY-MM-DD", help="Up to and including this day.")
@click.option("--opd", "opd_id", metavar="ID", help="Only this OPD's questions.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Groups shown."
)
@click.option("--json", "as_json", is_flag=True, help="The groups as one JSON object.")
@config_option
def kb_gaps(
    since: str | None,
    until: str | None,
    opd_id: str | None,
    limit: int,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Escalated and 👎 questions grouped by OPD and similarity, biggest group first."""
    import datetime as dt

    from bot.gaps import cluster_gaps, day_start
    from bot.text import shorten

    config = _config(config_path)

    def day(value: str | None, option: str) -> dt.datetime | None:
        if value is None:
            return None
        try:
            return day_start(value, config.calendar.timezone)
        except ValueError:
            raise click.ClickException(t("gaps.bad_date", option=option, value=value)) from None

    start, end = day(since, "--since"), day(until, "--until")
    if start and end and start > end:
        raise click.ClickException(t("gaps.bad_range", since=since, until=until))
    path = Path(config.storage.path)
    if not path.is_file():
        raise click.ClickException(t("gaps.no_database", path=path))
    upto = end + dt.timedelta(days=1) if end else None  # --until's day counts whole
    questions = _storage_call(config, lambda s: s.gap_questions(start, upto))
    names = _gap_opd_names(config)
    if opd_id is not None and opd_id not in names and opd_id not in {q.opd for q in questions}:
        known = sorted(set(names) | {q.opd for q in questions if q.opd})
        raise click.ClickException(t("gaps.unknown_opd", opd=opd_id, known=", ".join(known) or "-"))
    gaps = [g for g in cluster_gaps(questions) if opd_id is None or g.opd == opd_id]
    asked = sum(g.size for g in gaps)
    if as_json:
        payload = {
            "since": start.date().isoformat() if start else None,
            "until": end.date().isoformat() if end else None,
            "opd": opd_id,
            "questions": asked,
            "groups": len(gaps),
            "gaps": [
                {
                    "opd": g.opd,
                    "opd_name": names.get(g.opd) if g.opd else None,
                    "size": g.size,
                    "escalated": g.escalated,
                    "not_helpful": g.not_helpful,
                    "examples": list(g.examples),
                }
                for g in gaps[:limit]
            ],
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    period = _gap_period(since if start else None, until if end else None)
    if not gaps:
        if opd_id is None:
            click.echo(t("gaps.none", period=period))
        else:
            click.echo(t("gaps.none_opd", period=period, opd=names.get(opd_id, opd_id)))
        return
    click.echo(t("gaps.head", period=period, questions=asked, groups=len(gaps)))
    for number, gap in enumerate(gaps[:limit], start=1):
        opd = t("gaps.no_opd") if gap.opd is None else _gap_opd_label(gap.opd, names)
        counts = []
        if gap.escalated:
            counts.append(t("gaps.escalated", n=gap.escalated))
        if gap.not_helpful:
            counts.append(t("gaps.not_helpful", n=gap.not_helpful))
        click.echo("")
        click.echo(t("gaps.group", n=number, opd=opd, size=gap.size, counts=", ".join(counts)))
        for example in gap.examples:
            click.echo(t("gaps.example", text=shorten(example, 160)))
    if len(gaps) > limit:
        click.echo("")
        click.echo(t("gaps.more", n=len(gaps) - limit, total=len(gaps)))


def _gap_period(since: str | None, until: str | None) -> str:
    if since and until:
        return t("gaps.period_between", since=since.strip(), until=until.strip())
    if since:
        return t("gaps.period_since", since=since.strip())
    if until:
        return t("gaps.period_until", until=until.strip())
    return t("gaps.period_all")


def _gap_opd_names(config: Config) -> dict[str, str]:
    """OPD names from the configured knowledge base; a folder with errors gives none (the
    command still works, with OPD ids)."""
    knowledge, _ = check_knowledge(config.knowledge.dir)
    return {o.id: o.name for o in knowledge.opds.values()} if knowledge else {}


def _gap_opd_label(opd: str, names: dict[str, str]) -> str:
    return f"{names[opd]} ({opd})" if opd in names else opd


# --- `tanya report` (bot.report)


def _report_month(value: str) -> tuple[int, int]:
    import re

    found = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
    if not found or not 1 <= int(found[2]) <= 12 or int(found[1]) < 2000:
        raise click.ClickException(t("report.bad_month", value=value))
    return int(found[1]), int(found[2])


def _opd_names(config: Config, kb: str | None) -> dict[str, str]:
    """OPD names from the knowledge base; without a readable one the report shows ids (an
    explicit --kb that cannot be read is an error instead)."""
    from bot.knowledge import load_knowledge

    folder = _kb_dir(config, kb)
    try:
        knowledge = load_knowledge(folder)
    except KnowledgeError as exc:
        if kb:
            raise _knowledge_error(folder, exc) from None
        click.echo(t("report.kb_fallback", folder=folder), err=True)
        return {}
    return {opd.id: opd.name for opd in knowledge.opds.values()}


@main.command("report")
@click.option("--month", "month", required=True, metavar="YYYY-MM", help="The month, e.g. 2026-03.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="HTML file (default: laporan-YYYY-MM.html).",
)
@click.option(
    "--csv",
    "csv_out",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV file (default: the HTML file's name with .csv).",
)
@kb_option
@config_option
def report(
    month: str, out: str | None, csv_out: str | None, kb: str | None, config_path: str | None
) -> None:
    """The monthly report per OPD and for the regency: an HTML page with charts, and a CSV."""
    import datetime as dt

    from bot.report import build_report, month_bounds
    from bot.report_render import fmt_dec, fmt_int, fmt_pct, month_name, write_report
    from bot.workdays import CalendarError, WorkCalendar, bundled_holidays_file

    year, number = _report_month(month)
    config = _config(config_path)
    try:
        calendar = WorkCalendar.from_config(config.calendar)
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from None
    since, _ = month_bounds(year, number, calendar)
    if since > dt.datetime.now(dt.UTC):
        raise click.ClickException(t("report.future_month", month=f"{year}-{number:02d}"))
    if not config.storage.path.exists():
        raise click.ClickException(t("report.no_database", path=config.storage.path))
    names = _opd_names(config, kb)
    figures = _storage_call(
        config, lambda s: build_report(s, calendar, config, year, number, opd_names=names)
    )
    if figures.uncovered_years:
        click.echo(
            t(
                "report.uncovered_cli",
                file=config.calendar.holidays_file or bundled_holidays_file(),
                years=", ".join(map(str, figures.uncovered_years)),
            ),
            err=True,
        )
    html_path = Path(out) if out else Path(f"laporan-{year}-{number:02d}.html")
    csv_path = Path(csv_out) if csv_out else html_path.with_suffix(".csv")
    try:
        write_report(figures, html_path, csv_path)
    except OSError as exc:
        raise click.ClickException(
            t("report.cannot_write", path=exc.filename or html_path, detail=exc.strerror or exc)
        ) from None
    total = figures.total
    click.echo(
        t(
            "report.cli_summary",
            period=f"{month_name(number)} {year}",
            questions=fmt_int(total.questions),
            answered=fmt_int(total.answered),
            share=fmt_pct(total.answered_share),
            taken=fmt_int(total.taken),
            tickets=fmt_int(total.tickets),
            median=fmt_dec(total.median_hours),
            p90=fmt_dec(total.p90_hours),
            past_target=fmt_int(total.past_target),
            past_legal=fmt_int(total.past_legal),
            helpful=fmt_int(total.helpful),
            not_helpful=fmt_int(total.not_helpful),
        )
    )
    click.echo(t("report.cli_written", html=html_path, csv=csv_path))


# --- `tanya kb drafts`


@kb.command("drafts")
@click.argument("folder", required=False, type=click.Path())
@config_option
def kb_drafts(folder: str | None, config_path: str | None) -> None:
    """List the draft entries made from answered tickets (/faq) and what each still needs."""
    from bot.drafts import drafts_dir, list_drafts

    config = _config(config_path)
    path = Path(folder) if folder else config.knowledge.dir
    if not path.is_dir():
        raise click.ClickException(t("kb.no_folder") + f" ({path})")
    files = list_drafts(path)
    if not files or not any(f.entries for f in files):
        click.echo(t("drafts.none", folder=drafts_dir(path)))
        return
    live, _ = check_knowledge(path)
    live_ids = {e.uid for e in live.entries} if live is not None else set()
    total = sum(len(f.entries) for f in files)
    click.echo(t("drafts.head", folder=drafts_dir(path), entries=total, files=len(files)))
    for draft in files:
        click.echo("")
        click.echo(t("drafts.file_line", file=draft.path.name, entries=len(draft.entries)))
        for entry in draft.entries:
            ticket = t("drafts.from_ticket", ticket=entry.ticket_id) if entry.ticket_id else ""
            if entry.id is None:
                state = t("drafts.id_missing")
            elif f"{draft.opd_id}/{entry.id}" in live_ids:
                state = t("drafts.id_taken", id=entry.id, opd=draft.opd_id)
            else:
                state = f"id: {entry.id}"
            question = entry.question if len(entry.question) <= 70 else entry.question[:69] + "…"
            click.echo(
                t("drafts.entry_line", line=entry.line, ticket=ticket, state=state, q=question)
            )
        errors = [p for p in draft.problems if p.severity == "error"]
        taken = any(f"{draft.opd_id}/{e.id}" in live_ids for e in draft.entries if e.id)
        if errors:
            click.echo(t("drafts.file_errors", count=len(errors), file=draft.path.name))
        elif not taken:
            click.echo(t("drafts.file_ready", opd=draft.opd_id))


if __name__ == "__main__":  # pragma: no cover
    main()
