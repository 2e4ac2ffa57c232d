"""The monthly report as a self-contained HTML page and a CSV table (`tanya report`).

The HTML opens offline on an official's laptop or attached to an e-mail: CSS is inline and the
charts are PNGs embedded as data URIs (matplotlib's SVG would carry namespace URLs, and a
linked file gets lost on the way). matplotlib is imported only inside the chart functions, so
the bot process never loads it. Every resident's words shown go through `bot.privacy.mask`.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import itertools
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.i18n import t
from bot.privacy import mask
from bot.report import Figures, Report
from bot.text import shorten

COLORS = {
    "answered": "#2e7d32",
    "suggested": "#1565c0",
    "direct": "#ef6c00",
    "late": "#c62828",
    "ok": "#1565c0",
    "waiting": "#9e9e9e",
    "closed_day": "#eeeeee",
}
CHART_DPI = 100


# --- numbers as an Indonesian reader writes them


def fmt_int(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def fmt_dec(value: float | None, digits: int = 1) -> str:
    """Decimal comma, thousands dot, halves rounded up (21,25 shows as 21,3, as by hand)."""
    if value is None:
        return "–"
    rounded = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    text = f"{rounded:,.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def fmt_num(value: float) -> str:
    """A setting such as a target: no decimals when it is whole (1 hari kerja, 1,5 hari)."""
    return fmt_dec(value, 0 if value == int(value) else 1)


def fmt_pct(share: float | None) -> str:
    return "–" if share is None else f"{fmt_dec(100 * share)}%"


def month_name(month: int) -> str:
    return t("report.months").split(",")[month - 1].strip()


def _weekdays(days: Sequence[int]) -> str:
    names = [n.strip() for n in t("report.weekdays").split(",")]
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{names[ordered[0] - 1]}–{names[ordered[-1] - 1]}"
    return ", ".join(names[d - 1] for d in ordered)


def _clock(value: dt.time) -> str:
    return value.strftime("%H.%M")


def _local(report: Report, moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(ZoneInfo(report.timezone))


def _moment(report: Report, moment: dt.datetime) -> str:
    local = _local(report, moment)
    return f"{local.day} {month_name(local.month)} {local.year} {local:%H.%M}"


def row_key(row: Figures) -> str:
    """The row's id in the CSV and in the HTML's data-k attributes."""
    if row.kind == "total":
        return "total"
    return row.opd if row.opd is not None else "tanpa-opd"


# --- the columns, shared by the HTML tables and the CSV

Column = tuple[str, Callable[[Figures], str], Callable[[Figures], str]]  # key, html, csv


def _csv_dec(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _csv_pct(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.1f}"


QUESTION_COLUMNS: tuple[Column, ...] = (
    ("questions", lambda r: fmt_int(r.questions), lambda r: str(r.questions)),
    ("answered", lambda r: fmt_int(r.answered), lambda r: str(r.answered)),
    ("answered_share", lambda r: fmt_pct(r.answered_share), lambda r: _csv_pct(r.answered_share)),
    ("suggested", lambda r: fmt_int(r.suggested), lambda r: str(r.suggested)),
    ("taken", lambda r: fmt_int(r.taken), lambda r: str(r.taken)),
    ("direct", lambda r: fmt_int(r.direct), lambda r: str(r.direct)),
    ("helpful", lambda r: fmt_int(r.helpful), lambda r: str(r.helpful)),
    ("not_helpful", lambda r: fmt_int(r.not_helpful), lambda r: str(r.not_helpful)),
    ("helpful_share", lambda r: fmt_pct(r.helpful_share), lambda r: _csv_pct(r.helpful_share)),
    ("gap_questions", lambda r: fmt_int(r.gap_questions), lambda r: str(r.gap_questions)),
)
TICKET_COLUMNS: tuple[Column, ...] = (
    ("tickets", lambda r: fmt_int(r.tickets), lambda r: str(r.tickets)),
    ("responded", lambda r: fmt_int(r.responded), lambda r: str(r.responded)),
    ("waiting", lambda r: fmt_int(r.waiting), lambda r: str(r.waiting)),
    ("median_hours", lambda r: fmt_dec(r.median_hours), lambda r: _csv_dec(r.median_hours)),
    ("p90_hours", lambda r: fmt_dec(r.p90_hours), lambda r: _csv_dec(r.p90_hours)),
    ("past_target", lambda r: fmt_int(r.past_target), lambda r: str(r.past_target)),
    ("past_legal", lambda r: fmt_int(r.past_legal), lambda r: str(r.past_legal)),
    ("extended", lambda r: fmt_int(r.extended), lambda r: str(r.extended)),
)

REQUEST_COLUMNS: tuple[Column, ...] = tuple(
    (key, lambda r, k=key: fmt_int(getattr(r, k)), lambda r, k=key: str(getattr(r, k)))
    for key in (
        "requests",
        "requests_answered",
        "requests_refused",
        "requests_open",
        "requests_on_time",
        "requests_late",
        "requests_extended",
        "objections",
    )
)


# --- CSV


def render_csv(report: Report) -> str:
    """One row per OPD (and "no OPD"), then the regency total; UTF-8 with a BOM is written by
    `write_report`, so Excel reads the names right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = (*QUESTION_COLUMNS, *TICKET_COLUMNS, *REQUEST_COLUMNS)
    writer.writerow(
        [
            t("report.col.opd_id"),
            t("report.col.opd"),
            *(t(f"report.col.{key}") for key, _, _ in columns),
            t("report.col.top_gap"),
        ]
    )
    for row in (*report.rows, report.total):
        writer.writerow(
            [
                row_key(row),
                row.label,
                *(value(row) for _, _, value in columns),
                mask(row.top_gap) if row.top_gap else "",
            ]
        )
    return out.getvalue()


# --- HTML

_CSS = """
body{font-family:"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif;color:#212121;margin:2rem auto;
max-width:1100px;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:2px solid #1565c0;padding-bottom:.2rem}
.meta{color:#616161;margin:.1rem 0}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.6rem .8rem;margin:1rem 0}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.card{border:1px solid #e0e0e0;border-radius:6px;padding:.6rem .8rem;min-width:150px;flex:1}
.card .v{font-size:1.5rem;font-weight:600}.card .l{color:#616161;font-size:.85rem}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0}
th,td{border:1px solid #e0e0e0;padding:.3rem .45rem;text-align:right;vertical-align:top}
th{background:#f5f5f5}th:first-child,td:first-child{text-align:left}
td.text{text-align:left}tr.total td{font-weight:600;background:#fafafa}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#616161;font-size:.85rem}
ol.notes li{margin-bottom:.35rem;font-size:.9rem}
@media print{body{margin:0}h2{break-after:avoid}figure,table{break-inside:avoid}}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(report: Report, columns: Sequence[Column], caption: str) -> str:
    head = "".join(f"<th>{_e(t(f'report.col.{key}'))}</th>" for key, _, _ in columns)
    lines = [
        f"<table><caption class='meta'>{_e(caption)}</caption>",
        f"<thead><tr><th>{_e(t('report.col.opd'))}</th>{head}</tr></thead><tbody>",
    ]
    for row in (*report.rows, report.total):
        key = row_key(row)
        cells = "".join(
            f"<td data-k='{_e(key)}.{name}'>{_e(value(row))}</td>" for name, value, _ in columns
        )
        css = " class='total'" if row.kind == "total" else ""
        lines.append(f"<tr{css}><td data-k='{_e(key)}.label'>{_e(row.label)}</td>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _cards(report: Report) -> str:
    total = report.total
    votes = f"{fmt_int(total.helpful)} / {fmt_int(total.not_helpful)}"
    cards = (
        ("questions", fmt_int(total.questions), t("report.card.questions")),
        (
            "answered",
            fmt_pct(total.answered_share),
            t("report.card.answered", n=fmt_int(total.answered)),
        ),
        (
            "taken",
            fmt_int(total.taken),
            t("report.card.taken", offered=fmt_int(total.suggested)),
        ),
        ("tickets", fmt_int(total.tickets), t("report.card.tickets")),
        (
            "median",
            t("report.hours", value=fmt_dec(total.median_hours)),
            t("report.card.median", p90=fmt_dec(total.p90_hours)),
        ),
        (
            "past_target",
            fmt_int(total.past_target),
            t("report.card.past_target", days=fmt_num(report.target_working_days)),
        ),
        (
            "past_legal",
            fmt_int(total.past_legal),
            t("report.card.past_legal", days=report.deadline_working_days),
        ),
        ("votes", votes, t("report.card.votes", share=fmt_pct(total.helpful_share))),
    )
    body = "".join(
        f"<div class='card'><div class='v' data-k='card.{key}'>{_e(value)}</div>"
        f"<div class='l'>{_e(label)}</div></div>"
        for key, value, label in cards
    )
    return f"<div class='cards'>{body}</div>"


def _gaps(report: Report) -> str:
    if not report.gaps:
        return f"<p>{_e(t('report.gaps_none'))}</p>"
    head = "".join(
        f"<th>{_e(t(f'report.gap.{key}'))}</th>"
        for key in ("rank", "opd", "size", "escalated", "not_helpful", "examples")
    )
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for rank, gap in enumerate(report.gaps, start=1):
        examples = "<br>".join(_e(mask(shorten(x, 200))) for x in gap.examples)
        lines.append(
            f"<tr><td>{rank}</td><td class='text' data-k='gap{rank}.opd'>"
            f"{_e(report.label(gap.opd))}</td>"
            f"<td data-k='gap{rank}.size'>{fmt_int(gap.size)}</td>"
            f"<td data-k='gap{rank}.escalated'>{fmt_int(gap.escalated)}</td>"
            f"<td data-k='gap{rank}.not_helpful'>{fmt_int(gap.not_helpful)}</td>"
            f"<td class='text' data-k='gap{rank}.examples'>{examples}</td></tr>"
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _holidays(report: Report) -> str:
    if not report.holidays:
        return f"<p>{_e(t('report.holidays_none'))}</p>"
    items = "".join(
        f"<li>{h.day.day} {_e(month_name(h.day.month))}: {_e(h.name)} "
        f"({_e(t(f'report.kind.{h.kind}'))})</li>"
        for h in report.holidays
    )
    return f"<ul>{items}</ul>"


def footnotes(report: Report) -> list[str]:
    """The definitions of every figure, in Indonesian, filled with this report's settings."""
    values = {
        "tz": report.timezone,
        "days": _weekdays(report.work_days),
        "start": _clock(report.work_start),
        "end": _clock(report.work_end),
        "target": fmt_num(report.target_working_days),
        "target_hours": fmt_num(report.target_working_days * report.working_day_hours),
        "deadline": report.deadline_working_days,
        "extended": report.deadline_working_days + report.extension_working_days,
        "extension": report.extension_working_days,
        "cutoff": _moment(report, report.cutoff),
    }
    keys = (
        "questions",
        "answered",
        "suggested",
        "direct",
        "tickets",
        "response",
        "past_target",
        "past_legal",
        "votes",
        "gaps",
        "requests",
        "bounds",
    )
    return [t(f"report.note.{key}", **values) for key in keys]


def render_html(report: Report, charts: dict[str, bytes] | None = None) -> str:
    """The whole report as one HTML page; `charts` (PNG bytes by name) defaults to
    `render_charts(report)`."""
    charts = render_charts(report) if charts is None else charts
    period = f"{month_name(report.month)} {report.year}"
    title = t("report.title", regency=report.regency, period=period)
    parts = [
        "<!DOCTYPE html>",
        "<html lang='id'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='meta'>{_e(t('report.period', period=period, tz=report.timezone))}</p>",
        f"<p class='meta'>{_e(t('report.generated', at=_moment(report, report.generated_at)))}</p>",
    ]
    if not report.complete:
        cutoff = _moment(report, report.cutoff)
        parts.append(f"<p class='warn'>{_e(t('report.incomplete', cutoff=cutoff))}</p>")
    if report.uncovered_years:
        years = ", ".join(str(y) for y in report.uncovered_years)
        parts.append(f"<p class='warn'>{_e(t('report.uncovered', years=years))}</p>")
    parts += [
        f"<h2>{_e(t('report.summary_head'))}</h2>",
        _cards(report),
        f"<h2>{_e(t('report.questions_head'))}</h2>",
        _table(report, QUESTION_COLUMNS, t("report.questions_caption")),
        f"<h2>{_e(t('report.tickets_head'))}</h2>",
        _table(report, TICKET_COLUMNS, t("report.tickets_caption")),
        f"<h2>{_e(t('report.requests_head'))}</h2>",
        _table(report, REQUEST_COLUMNS, t("report.requests_caption")),
        f"<h2>{_e(t('report.charts_head'))}</h2>",
    ]
    for name in ("volume", "response", "ranking"):
        if name in charts:
            data = base64.b64encode(charts[name]).decode("ascii")
            alt = t(f"report.chart.{name}_title")
            parts.append(
                f"<figure><img alt='{_e(alt)}' data-chart='{name}' "
                f"src='data:image/png;base64,{data}'>"
                f"<figcaption>{_e(t(f'report.chart.{name}_caption'))}</figcaption></figure>"
            )
    parts += [
        f"<h2>{_e(t('report.gaps_head', n=len(report.gaps), total=fmt_int(report.gap_total)))}"
        "</h2>",
        _gaps(report),
        f"<h2>{_e(t('report.holidays_head'))}</h2>",
        _holidays(report),
        f"<h2>{_e(t('report.notes_head'))}</h2>",
        "<ol class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in footnotes(report)) + "</ol>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# --- charts (matplotlib, imported here only)


def render_charts(report: Report) -> dict[str, bytes]:
    """The three charts as PNG bytes: volume per day, response times, OPD ranking."""
    return {
        "volume": _volume_chart(report),
        "response": _response_chart(report),
        "ranking": _ranking_chart(report),
    }


def _figure(width: float, height: float):  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    # No "Software" text chunk: the page carries no URL, not even inside an image.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _volume_chart(report: Report) -> bytes:
    figure = _figure(10, 3.8)
    ax = figure.add_subplot()
    days = [d.day.day for d in report.days]
    answered = [d.answered for d in report.days]
    suggested = [d.suggested for d in report.days]
    direct = [d.direct for d in report.days]
    for d in report.days:
        if not d.working:
            ax.axvspan(d.day.day - 0.5, d.day.day + 0.5, color=COLORS["closed_day"], zorder=0)
    ax.bar(days, answered, color=COLORS["answered"], label=t("report.chart.answered"), zorder=2)
    ax.bar(
        days,
        suggested,
        bottom=answered,
        color=COLORS["suggested"],
        label=t("report.chart.suggested"),
        zorder=2,
    )
    ax.bar(
        days,
        direct,
        bottom=[a + s for a, s in zip(answered, suggested, strict=True)],
        color=COLORS["direct"],
        label=t("report.chart.direct"),
        zorder=2,
    )
    ax.set_xticks(days)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlim(0.5, len(days) + 0.5)
    ax.set_xlabel(t("report.chart.volume_x", month=month_name(report.month)))
    ax.set_ylabel(t("report.chart.volume_y"))
    ax.set_title(t("report.chart.volume_title"))
    ax.yaxis.get_major_locator().set_params(integer=True)
    highest = max(
        (a + s + x for a, s, x in zip(answered, suggested, direct, strict=True)), default=0
    )
    ax.set_ylim(0, max(highest, 1) * 1.3)  # room for the legend above the bars
    handles, _ = ax.get_legend_handles_labels()
    handles.append(_patch(COLORS["closed_day"], t("report.chart.closed_day")))
    ax.legend(handles=handles, loc="upper left", fontsize=8, ncols=4)
    ax.grid(axis="y", color="#e0e0e0", zorder=1)
    return _png(figure)


def _patch(color: str, label: str):  # type: ignore[no-untyped-def]
    from matplotlib.patches import Patch

    return Patch(facecolor=color, edgecolor="#bdbdbd", label=label)


def response_bins(report: Report) -> list[tuple[float, float, str]]:
    """Bins of working hours for the response-time chart: fine in the first day, then days."""
    day = report.working_day_hours
    edges = sorted({0.0, 1.0, 2.0, 4.0, day, 2 * day, 5 * day, 10 * day})
    bins = [
        (low, high, f"{fmt_num(low)}–{fmt_num(high)}") for low, high in itertools.pairwise(edges)
    ]
    bins.append((edges[-1], float("inf"), f"≥ {fmt_num(edges[-1])}"))
    return bins


def _response_chart(report: Report) -> bytes:
    figure = _figure(10, 3.6)
    ax = figure.add_subplot()
    hours = [x.response_hours for x in report.timings if x.response_hours is not None]
    waiting = sum(1 for x in report.timings if x.response_hours is None)
    target = report.target_working_days * report.working_day_hours
    bins = response_bins(report)
    counts = [sum(1 for h in hours if low <= h < high) for low, high, _ in bins]
    colors = [COLORS["late"] if low >= target else COLORS["ok"] for low, _, _ in bins]
    labels = [label for _, _, label in bins] + [t("report.chart.waiting")]
    ax.bar(range(len(bins)), counts, color=colors, zorder=2)
    ax.bar([len(bins)], [waiting], color=COLORS["waiting"], zorder=2)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(t("report.chart.response_x"))
    ax.set_ylabel(t("report.chart.response_y"))
    ax.set_title(t("report.chart.response_title"))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(0, max([*counts, waiting, 1]) * 1.3)
    handles = [
        _patch(COLORS["ok"], t("report.chart.within_target")),
        _patch(COLORS["late"], t("report.chart.past_target", hours=fmt_num(target))),
        _patch(COLORS["waiting"], t("report.chart.waiting_legend")),
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.grid(axis="y", color="#e0e0e0", zorder=1)
    return _png(figure)


def _ranking_chart(report: Report) -> bytes:
    ranked = sorted(
        (r for r in report.rows if r.median_hours is not None),
        key=lambda r: (r.median_hours, r.label.casefold()),
    )
    figure = _figure(10, 1.4 + 0.4 * max(len(ranked), 1))
    ax = figure.add_subplot()
    target = report.target_working_days * report.working_day_hours
    ax.set_title(t("report.chart.ranking_title"))
    if not ranked:
        ax.text(0.5, 0.5, t("report.chart.no_data"), ha="center", va="center")
        ax.set_axis_off()
        return _png(figure)
    medians = [float(r.median_hours or 0.0) for r in ranked]
    colors = [COLORS["late"] if m > target else COLORS["ok"] for m in medians]
    positions = range(len(ranked))
    ax.barh(positions, medians, color=colors, zorder=2)
    ax.set_yticks(positions, [shorten(r.label, 45) for r in ranked], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(target, color="#424242", linestyle="--", linewidth=1, zorder=3)
    for position, (row, median) in enumerate(zip(ranked, medians, strict=True)):
        ax.text(
            median,
            position,
            " " + t("report.chart.ranking_label", hours=fmt_dec(median), n=row.responded),
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max(max(medians), target) * 1.3 or 1)
    ax.set_xlabel(t("report.chart.ranking_x", hours=fmt_num(target)))
    ax.grid(axis="x", color="#e0e0e0", zorder=1)
    return _png(figure)


# --- files


def write_report(report: Report, html_path: Path, csv_path: Path) -> None:
    """Write both files; the CSV as UTF-8 with a BOM (Excel otherwise misreads names)."""
    page = render_html(report)
    table = render_csv(report)
    html_path.write_text(page, encoding="utf-8")
    csv_path.write_text(table, encoding="utf-8-sig")
