"""The report's charts as PNG bytes (matplotlib, Agg, DejaVu Sans), the same bytes for the same figures.

No pyplot and no global backend switch: each chart is its own :class:`~matplotlib.figure.Figure` on an Agg
canvas, so importing this module changes nothing for anyone else. Amounts become floats only here, for drawing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from robots.core.domain import Column
from robots.core.kpi.figures import AgingBar, CashWeek

DPI = 170
WIDTH_IN = 7.2  # the PDF's text width, so the picture is shown at 1:1
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "svg.hashsalt": "arbots",
}
NOT_DUE, OVERDUE = "#8fb3d9", "#d9534f"
DUE, OPEN, RECEIVED = "#c8c8c8", "#f0ad4e", "#4a9d5b"
PROMISED = "#2f6db5"
LINE_COLORS = ("#1f4e79", "#7b3294", "#008837", "#b35806", "#5e3c99", "#01665e", "#8c510a", "#c51b7d")


def short_money(value: float, _pos: object = None) -> str:
    """Axis labels: 1,5 млн, 250 тыс., 900."""
    a = abs(value)
    if a >= 1_000_000:
        return f"{value / 1_000_000:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " млн"
    if a >= 1_000:
        return f"{value / 1_000:.0f} тыс."
    return f"{value:.0f}"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def bin_width(low: int, high: int, bars: int = 100) -> int:
    """The smallest round bin width (days) that shows ``[low, high]`` in at most ``bars`` bars."""
    for width in (1, 2, 3, 5, 7, 10, 14, 15, 30, 60, 90, 180, 365):
        if (high - low + 1) / width <= bars:
            return width
    return 365


def aging_chart(bars: Sequence[AgingBar], columns: Sequence[Column], working_days: bool) -> bytes:
    """Open amount by days past due; the group's aging columns as labelled vertical lines."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(WIDTH_IN, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for b in bars:
            ax.bar(b.start, float(b.amount), width=b.end - b.start, align="edge",
                   color=OVERDUE if b.start >= 1 else NOT_DUE, edgecolor="white", linewidth=0.4)
        ax.bar(0, 0, color=NOT_DUE, label="срок оплаты не наступил")
        ax.bar(0, 0, color=OVERDUE, label="просрочено")
        for i, col in enumerate(columns):
            # a debt with days past due >= offset is in the column: the boundary is the left edge of that day
            ax.axvline(col.offset, color=LINE_COLORS[i % len(LINE_COLORS)], linestyle="--", linewidth=1.1,
                       label=f"{col.title or col.id} (с {col.offset} дн.)".replace("-", "−"))
        edges = [b.start for b in bars] + [b.end for b in bars] + [c.offset for c in columns] + [0, 1]
        pad = max(1, (max(edges) - min(edges)) // 40)
        ax.set_xlim(min(edges) - pad, max(edges) + pad)
        ax.yaxis.set_major_formatter(FuncFormatter(short_money))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=14, integer=True))
        ax.set_xlabel("Дней просрочки (" + ("рабочих" if working_days else "календарных")
                      + "; отрицательные: до срока оплаты)")
        ax.set_ylabel("Открытая сумма, руб.")
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        fig.legend(loc="outside lower center", ncol=2, frameon=False, fontsize=7.5)
        return _png(fig)


def cash_chart(weeks: Sequence[CashWeek], as_of: date) -> bytes:
    """Per week: what falls due (of it, still open) next to what was received."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(WIDTH_IN, 3.4), layout="constrained")
        ax = fig.add_subplot()
        xs = list(range(len(weeks)))
        w = 0.4
        ax.bar([x - w / 2 for x in xs], [float(k.due) for k in weeks], width=w, color=DUE,
               label="к оплате по сроку (по договорам)")
        ax.bar([x - w / 2 for x in xs], [float(k.open) for k in weeks], width=w, color=OPEN,
               label="из них не оплачено на дату отчёта")
        ax.bar([x + w / 2 for x in xs], [float(k.received or Decimal(0)) for k in weeks], width=w, color=RECEIVED,
               label="поступило")
        if any(k.promised for k in weeks):
            ax.plot(xs, [float(k.promised) if k.promised else float("nan") for k in weeks], linestyle="none",
                    marker="o", color=PROMISED, label="обещано клиентами (открытые обещания)")
        now = next((i for i, k in enumerate(weeks) if k.start <= as_of < k.start + timedelta(days=7)), None)
        if now is not None:
            ax.axvline(now + 0.5, color="#333333", linestyle=":", linewidth=1)
            ax.text(now + 0.55, 0.98, f"отчёт на {as_of:%d.%m}", transform=ax.get_xaxis_transform(),
                    va="top", ha="left", fontsize=7, color="#333333")
        top = max((float(max(k.due, k.received or Decimal(0), k.promised)) for k in weeks), default=0.0)
        ax.set_ylim(0, top * 1.05 if top > 0 else 1)
        ax.set_xticks(xs, [f"{k.start:%d.%m}" for k in weeks], rotation=45, ha="right")
        ax.set_xlabel("Неделя (понедельник)")
        ax.set_ylabel("Сумма, руб.")
        ax.yaxis.set_major_formatter(FuncFormatter(short_money))
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        fig.legend(loc="outside lower center", ncol=3, frameon=False, fontsize=7.5)
        return _png(fig)
