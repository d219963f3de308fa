"""Charts for an hour's report: one PNG per report, chosen from the shape of its answer.

`render_all(definition, tables)` is what the hourly DAG's ``publish_report`` task calls; it returns
``{report_name: [(filename, png_bytes)]}`` for `cdc_pipeline.reports.publish` to write beside the CSVs.

Nothing here knows a dataset's report names. `plan_chart` looks at the table instead:

* no rows, or no numeric column                -> no chart (the HTML page says why)
* one row of numbers (a totals query)          -> "big numbers": each measure as a large figure
* a time-like first column (hour, date, ...)   -> a time series, one panel per measure (up to three)
* a first column of bands ("18-24", "65+") or of
  distinct numbers with a count beside it       -> vertical bars in the query's order (a distribution)
* a first column of repeated numbers            -> a histogram of it (raw ages, prices)
* a categorical first column                    -> horizontal bars of the main measure, in the query's
                                                  order (its first row on top), as the table lists them

A definition may override any report with `PipelineDefinition.charts` (the ``[charts.<report>]``
tables of its file in ``pipelines/``), e.g. ``{"expensive_orders": {"kind": "bars", "label":
"product_name", "measure": "price"}}`` or ``{"totals": {"kind": "none"}}``. The main measure is the one whose name says money or a count (revenue, sales,
amount, total, count, users, orders, price), else the first numeric column.

Numbers on bars and axes are written by `cdc_pipeline.reports.format_value`, as the page's tables
write them (money with two decimals, shares as percentages). A chart has no title: the page's heading
above it asks the question; only a note (e.g. "top 15 of 40") is drawn on top.

Every figure has the same size, DPI and seaborn theme, and is built with `matplotlib.figure.Figure`
directly rather than pyplot, so a long-running worker never accumulates open figures. PNGs are
written without a ``Software`` or date tag, so the same table always gives the same bytes.

LIMITATIONS: time series use the query's rows as evenly spaced categories, so an hour with no rows
is absent rather than drawn as zero; more than `MAX_PANELS` measures share one panel, a line each;
at most `MAX_BARS` categories are drawn (the query's first rows, with a note); a table whose only columns are text (a list of invalid emails, say) gets no chart; numbers
are plotted as floats (exact text stays in the CSV, the table and the big-number labels).
"""

from __future__ import annotations

import io
import logging
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import matplotlib

matplotlib.use("Agg")  # a worker has no display; never let matplotlib look for one

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from cdc_pipeline.reports import HTML_MAX_ROWS, ReportTable, format_value  # noqa: E402

log = logging.getLogger(__name__)

#: Every chart is this size in inches at this DPI: 720 x 390 pixels (beside its table at 1400 px).
FIGSIZE = (7.2, 3.9)
DPI = 100
#: Horizontal bar charts show at most this many rows: the rows the page's table shows beside them.
MAX_BARS = HTML_MAX_ROWS
#: Time series draw bars up to this many points, a line beyond.
MAX_TIME_BARS = 36
#: Category labels longer than this are cut with an ellipsis.
LABEL_CHARS = 30
#: Big-number figures show at most this many measures.
MAX_KPIS = 6
#: Time series draw at most this many measures, one panel each.
MAX_PANELS = 3

_MAIN_MEASURE_WORDS = ("revenue", "sales", "amount", "value", "total", "count", "users", "orders", "price")
_TIME_NAME = re.compile(r"(^|_)(hour|time|date|day|week|month|year|minute|ts|timestamp|period)(_|$)", re.I)
_BAND = re.compile(r"^\s*([<>]=?\s*)?-?\d+(\.\d+)?\s*(\+|(-|–|to)\s*-?\d+(\.\d+)?)?\s*\w{0,8}\s*$", re.I)
_IDENTIFIER = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$|^[0-9a-f]{16,}$", re.I
)


class ChartHintError(ValueError):
    """A definition's chart hint does not fit its report (unknown kind or column)."""


class ChartKind(StrEnum):
    """The kinds of chart a report can get."""

    AUTO = "auto"
    NONE = "none"
    KPI = "kpi"
    TIMESERIES = "timeseries"
    BANDS = "bands"
    HISTOGRAM = "histogram"
    BARS = "bars"


@dataclass(frozen=True)
class ChartPlan:
    """What to draw for one table, and why (the reason is logged)."""

    kind: ChartKind
    reason: str
    label: str | None = None
    measures: tuple[str, ...] = ()


def _theme() -> dict[str, Any]:
    """One seaborn look for every chart, applied per figure so the process's rcParams stay untouched."""
    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("notebook", font_scale=0.95))
    rc.update(
        {
            # A font matplotlib ships, so the pixels do not depend on the host's fonts.
            "font.family": "DejaVu Sans",
            "axes.titlesize": 13,
            "axes.titleweight": "bold",
            "figure.titlesize": 13,
            "figure.titleweight": "bold",
            "axes.prop_cycle": matplotlib.cycler(color=sns.color_palette("deep")),
            "savefig.dpi": DPI,
            "figure.dpi": DPI,
        }
    )
    return rc


def numeric_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Columns whose every non-empty value is a number, as floats (empty cells become NaN)."""
    found: dict[str, pd.Series] = {}
    for column in frame.columns:
        text = frame[column].astype(str).str.strip()
        present = text[text != ""]
        if present.empty or present.str.contains(r"[:/]|\d-\d", regex=True).any():
            continue  # dates and times parse as numbers nowhere, but "2024-01" would be arithmetic
        parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
        if parsed[text != ""].notna().all():
            found[column] = parsed.astype(float)
    return found


def _is_temporal(name: str, values: pd.Series) -> bool:
    text = values.astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return False
    if _TIME_NAME.search(name):
        return True
    if not text.str.contains(r"\d{4}-\d{2}|\d{1,2}:\d{2}", regex=True).all():
        return False
    try:
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return False
    return bool(parsed.notna().all())


def _main_measure(measures: list[str], preferred: str | None = None) -> str:
    if preferred:
        return preferred
    for word in _MAIN_MEASURE_WORDS:
        for name in measures:
            if word in name.lower():
                return name
    return measures[0]


_HINT_KEYS = frozenset({"kind", "label", "measure"})


def _hint_for(definition: Any, name: str) -> Mapping[str, Any]:
    hints = getattr(definition, "charts", None) or {}
    hint = hints.get(name) or {}
    if not isinstance(hint, Mapping):
        raise ChartHintError(f"chart hint for report {name!r} must be a table, not {hint!r}")
    unknown = set(hint) - _HINT_KEYS
    if unknown:
        raise ChartHintError(f"chart hint for report {name!r} has unknown keys {sorted(unknown)}")
    return hint


def plan_chart(frame: pd.DataFrame, hint: Mapping[str, Any] | None = None) -> ChartPlan:
    """Choose a chart for `frame` (strings, as `ReportTable.frame` gives) from its shape and `hint`.

    :param hint: optional ``kind`` (a `ChartKind` value), ``label`` (the category/time column) and
        ``measure`` (the main numeric column, or a list of them for a time series).
    """
    hint = dict(hint or {})
    try:
        kind = ChartKind(hint.get("kind", ChartKind.AUTO))
    except ValueError:
        raise ChartHintError(
            f"chart hint kind {hint.get('kind')!r} is not one of {[k.value for k in ChartKind]}"
        ) from None
    if kind is ChartKind.NONE:
        return ChartPlan(ChartKind.NONE, "the dataset's definition asks for no chart")
    if frame.empty or len(frame.columns) == 0:
        return ChartPlan(ChartKind.NONE, "no rows for this hour")
    numbers = numeric_columns(frame)
    if not numbers:
        return ChartPlan(ChartKind.NONE, "no numeric column to draw")
    for column in (hint.get("label"), *_as_list(hint.get("measure"))):
        if column is not None and column not in frame.columns:
            raise ChartHintError(f"chart hint names column {column!r}, not among {list(frame.columns)}")
    for column in _as_list(hint.get("measure")):
        if column not in numbers:
            raise ChartHintError(f"chart hint measure {column!r} is not a numeric column")

    label = hint.get("label") or frame.columns[0]
    measures = [c for c in numbers if c != label]
    hinted = _as_list(hint.get("measure"))
    if kind is ChartKind.AUTO:
        kind = _auto_kind(frame, label, numbers, measures)
    if kind is ChartKind.NONE:
        return ChartPlan(ChartKind.NONE, "no numeric measure beside the first column")

    if kind is ChartKind.KPI:
        chosen = hinted or [c for c in frame.columns if c in numbers][:MAX_KPIS]
        return ChartPlan(kind, "one row of numbers", measures=tuple(chosen))
    if kind is ChartKind.HISTOGRAM:
        column = hinted[0] if hinted else (label if label in numbers else _main_measure(measures))
        return ChartPlan(kind, f"distribution of {column}", measures=(column,))
    if not measures and not hinted:
        return ChartPlan(ChartKind.NONE, "no numeric measure beside the first column")
    if kind is ChartKind.TIMESERIES:
        # Every measure is drawn (beyond MAX_PANELS they share one panel): none is in the table only.
        chosen = hinted or _ordered_measures(measures)
        return ChartPlan(kind, f"{label} looks like time", label=label, measures=tuple(chosen))
    main = _main_measure(measures, hinted[0] if hinted else None)
    reason = "bands or distinct values with a count" if kind is ChartKind.BANDS else "categories"
    return ChartPlan(kind, reason, label=label, measures=(main,))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _ordered_measures(measures: list[str]) -> list[str]:
    main = _main_measure(measures)
    return [main] + [m for m in measures if m != main]


def _auto_kind(
    frame: pd.DataFrame, label: str, numbers: Mapping[str, pd.Series], measures: list[str]
) -> ChartKind:
    # A time series is one even with a single point so far (the day's first hour), not big numbers.
    if _is_temporal(label, frame[label]):
        return ChartKind.TIMESERIES if measures else ChartKind.NONE
    if len(frame) == 1 and sum(c in numbers for c in frame.columns) * 2 >= len(frame.columns):
        return ChartKind.KPI
    if label in numbers:
        # Distinct values with a measure beside them are an aggregated distribution (age -> users);
        # repeated values are raw observations to bin.
        if measures and frame[label].is_unique:
            return ChartKind.BANDS
        return ChartKind.HISTOGRAM
    if not measures:
        return ChartKind.NONE
    values = frame[label].astype(str)
    if values.map(lambda v: bool(_BAND.match(v))).all() and values.str.contains(r"\d", regex=True).all():
        return ChartKind.BANDS
    return ChartKind.BARS


# --- drawing ---------------------------------------------------------------------------------------


def _note(figure: Figure, text: str) -> None:
    """A short note on top of a chart (its question is the page's heading, not repeated here)."""
    if text:
        wrapped = "\n".join(textwrap.wrap(text, width=90, max_lines=2, placeholder=" …"))
        figure.suptitle(wrapped, fontsize=10, fontweight="normal", color="#555555")


def _axis_label(column: str) -> str:
    return column.replace("_", " ")


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _number(column: str, value: float) -> str:
    """``value`` of ``column`` as the page's table writes it (`format_value`)."""
    if value != value:  # NaN
        return ""
    return format_value(column, repr(float(value)))


def _axis_numbers(column: str) -> FuncFormatter:
    return FuncFormatter(lambda value, _pos: _number(column, value))


def _category_labels(frame: pd.DataFrame, label: str, numbers: Mapping[str, Any]) -> list[str]:
    """Readable category names: identifiers (UUIDs) are shortened and joined to a text column if any."""
    values = frame[label].astype(str)
    if values.map(lambda v: bool(_IDENTIFIER.match(v))).all():
        others = [
            c for c in frame.columns if c != label and c not in numbers and not _is_temporal(c, frame[c])
        ]
        if others:
            return [
                f"{_short(o, LABEL_CHARS - 11)} · {v[:8]}"
                for o, v in zip(frame[others[0]], values, strict=True)
            ]
        return [v[:8] + "…" for v in values]
    return [_short(v) for v in values]


def _new_figure(rows: int = 1) -> tuple[Figure, Any]:
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return figure, axes


def _draw_kpis(figure: Figure, table: ReportTable, frame: pd.DataFrame, plan: ChartPlan) -> None:
    axes = figure.subplots(1, len(plan.measures), squeeze=False)[0]
    colours = sns.color_palette("deep", len(plan.measures))
    texts = {column: format_value(column, frame[column].iloc[0]) for column in plan.measures}
    # Each number gets a 1/n-wide cell (FIGSIZE[0] * 72 points wide); a bold digit is about 0.65 em,
    # so this size lets the longest number fill at most ~85% of its cell.
    cell_points = FIGSIZE[0] * 72 / len(plan.measures)
    size = min(32, max(10, int(cell_points * 0.85 / (0.65 * max(map(len, texts.values()))))))
    for ax, column, colour in zip(axes, plan.measures, colours, strict=True):
        ax.set_axis_off()
        ax.text(
            0.5,
            0.55,
            texts[column],
            ha="center",
            va="center",
            fontsize=size,
            fontweight="bold",
            color=colour,
            transform=ax.transAxes,
        )
        ax.text(
            0.5,
            0.28,
            _axis_label(column),
            ha="center",
            va="center",
            fontsize=13,
            color="#444444",
            transform=ax.transAxes,
        )


def _hour_labels(labels: list[str]) -> tuple[list[str], str]:
    """Hours of one day share their date: say it once in the axis label, not under every tick."""
    dates = {value.split(" ")[0] for value in labels if " " in value}
    if len(dates) == 1 and all(" " in value for value in labels):
        return [value.split(" ", 1)[1] for value in labels], dates.pop()
    return labels, ""


def _draw_timeseries(
    figure: Figure, axes: Any, table: ReportTable, frame: pd.DataFrame, plan: ChartPlan
) -> None:
    numbers = numeric_columns(frame)
    labels, prefix = _hour_labels(frame[plan.label].astype(str).tolist())
    positions = list(range(len(labels)))
    colours = sns.color_palette("deep", len(plan.measures))
    series = {
        column: numbers[column].fillna(0.0)
        if column in numbers
        else pd.to_numeric(frame[column], errors="coerce")
        for column in plan.measures
    }
    if len(axes) == 1 and len(plan.measures) > 1:
        # More measures than panels: one panel, a line each, every measure in the legend.
        ax = axes[0]
        for (column, values), colour in zip(series.items(), colours, strict=True):
            ax.plot(
                positions,
                values,
                color=colour,
                marker="o",
                markersize=3,
                linewidth=1.8,
                label=_axis_label(column),
            )
        ax.legend(fontsize=8, ncols=min(4, len(series)), loc="upper left")
        ax.set_ylabel("count")
        ax.yaxis.set_major_formatter(_axis_numbers(plan.measures[0]))
    else:
        for ax, (column, values), colour in zip(axes, series.items(), colours, strict=True):
            if len(labels) <= MAX_TIME_BARS:
                bars = ax.bar(positions, values, color=colour, width=0.7)
                if len(labels) <= 12:
                    ax.bar_label(bars, labels=[_number(column, v) for v in values], padding=2, fontsize=8)
            else:
                ax.plot(positions, values, color=colour, marker="o", markersize=3, linewidth=1.8)
            ax.set_ylabel(_axis_label(column))
            ax.yaxis.set_major_formatter(_axis_numbers(column))
    for ax in axes:
        ax.grid(axis="x", visible=False)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.margins(y=0.18)
    last = axes[-1]
    step = max(1, len(labels) // 12)
    wide = max(map(len, labels)) > 6
    last.set_xticks(
        positions[::step],
        [_short(v, 20) for v in labels[::step]],
        rotation=45 if wide else 0,
        ha="right" if wide else "center",
    )
    last.set_xlabel(_axis_label(plan.label) + (f" ({prefix})" if prefix else ""))


def _draw_bars(figure: Figure, ax: Any, table: ReportTable, frame: pd.DataFrame, plan: ChartPlan) -> None:
    """Horizontal bars in the query's order, its first row on top: the chart lists what the table lists."""
    numbers = numeric_columns(frame)
    measure = plan.measures[0]
    labels = _category_labels(frame, plan.label, numbers)
    data = pd.DataFrame({"label": labels, "value": numbers[measure].fillna(0.0).to_numpy()})
    shown = data.head(MAX_BARS).iloc[::-1]
    positions = list(range(len(shown)))
    bars = ax.barh(positions, shown["value"], color=sns.color_palette("deep")[0], height=0.7)
    ax.set_yticks(positions, shown["label"].tolist())
    ax.bar_label(bars, labels=[_number(measure, v) for v in shown["value"]], padding=3, fontsize=8)
    ax.set_xlabel(_axis_label(measure))
    ax.set_ylabel(_axis_label(plan.label))
    ax.xaxis.set_major_formatter(_axis_numbers(measure))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.margins(x=0.2)
    ax.grid(axis="y", visible=False)
    if len(data) > MAX_BARS:
        _note(figure, f"the first {MAX_BARS} of {len(data)} rows, as the table lists them")


def _draw_bands(figure: Figure, ax: Any, table: ReportTable, frame: pd.DataFrame, plan: ChartPlan) -> None:
    numbers = numeric_columns(frame)
    measure = plan.measures[0]
    data = pd.DataFrame({"label": frame[plan.label].astype(str), "value": numbers[measure].fillna(0.0)})
    if plan.label in numbers:  # numeric values: draw them in numeric order, whatever the query's order
        data = data.assign(key=numbers[plan.label]).sort_values("key", kind="stable")
    positions = list(range(len(data)))
    bars = ax.bar(positions, data["value"], color=sns.color_palette("deep")[2], width=0.8)
    step = max(1, len(data) // 20)
    longest = max(map(len, data["label"]))
    ax.set_xticks(
        positions[::step],
        [_short(v, 16) for v in data["label"].tolist()[::step]],
        rotation=45 if longest > 7 else 0,
        ha="right" if longest > 7 else "center",
    )
    if len(data) <= 16:
        ax.bar_label(bars, labels=[_number(measure, v) for v in data["value"]], padding=2, fontsize=8)
    ax.set_xlabel(_axis_label(plan.label))
    ax.set_ylabel(_axis_label(measure))
    ax.yaxis.set_major_formatter(_axis_numbers(measure))
    ax.margins(y=0.15)
    ax.grid(axis="x", visible=False)


def _draw_histogram(
    figure: Figure, ax: Any, table: ReportTable, frame: pd.DataFrame, plan: ChartPlan
) -> None:
    column = plan.measures[0]
    values = numeric_columns(frame)[column].dropna()
    sns.histplot(
        x=values.to_numpy(), ax=ax, bins=min(30, max(5, values.nunique())), color=sns.color_palette("deep")[0]
    )
    ax.set_xlabel(_axis_label(column))
    ax.set_ylabel("rows")
    ax.xaxis.set_major_formatter(_axis_numbers(column))
    ax.grid(axis="x", visible=False)
    _note(figure, f"{len(values):,} values, median {_number(column, float(values.median()))}")


def render_table(table: ReportTable, hint: Mapping[str, Any] | None = None) -> list[tuple[str, bytes]]:
    """The PNG chart(s) for one report table: ``[(filename, png_bytes)]``, empty when it has none."""
    frame = table.frame
    plan = plan_chart(frame, hint)
    log.info("report %s: chart %s (%s)", table.name, plan.kind, plan.reason)
    if plan.kind is ChartKind.NONE:
        return []
    with matplotlib.rc_context(_theme()):
        if plan.kind is ChartKind.KPI:
            figure = Figure(figsize=(FIGSIZE[0], FIGSIZE[1] / 2), dpi=DPI, layout="constrained")
            _draw_kpis(figure, table, frame, plan)
        elif plan.kind is ChartKind.TIMESERIES:
            figure, axes = _new_figure(len(plan.measures) if len(plan.measures) <= MAX_PANELS else 1)
            _draw_timeseries(figure, axes, table, frame, plan)
        else:
            figure, axes = _new_figure()
            draw = {
                ChartKind.BARS: _draw_bars,
                ChartKind.BANDS: _draw_bands,
                ChartKind.HISTOGRAM: _draw_histogram,
            }
            draw[plan.kind](figure, axes[0], table, frame, plan)
        buffer = io.BytesIO()
        # No Software tag (it carries the matplotlib version) and no date: identical data, identical bytes.
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        figure.clear()
    return [(f"{table.name}.png", buffer.getvalue())]


def render_all(definition: Any, tables: list[ReportTable]) -> dict[str, list[tuple[str, bytes]]]:
    """Every report's charts, ``{report_name: [(filename, png_bytes)]}``, for `reports.publish`.

    A report whose chart cannot be drawn is logged and published without one: the numbers matter more
    than the picture. A hint naming a column the table lacks is a definition error and is raised.
    """
    charts: dict[str, list[tuple[str, bytes]]] = {}
    for table in tables:
        hint = _hint_for(definition, table.name)
        try:
            pictures = render_table(table, hint)
        except ChartHintError:
            raise
        except Exception:  # a drawing bug must not cost the hour its CSVs and page
            log.exception("report %s: drawing its chart failed; publishing it without one", table.name)
            continue
        if pictures:
            charts[table.name] = pictures
    return charts
