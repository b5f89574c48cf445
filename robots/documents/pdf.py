"""Letter markup -> PDF with reportlab platypus (A4, embedded DejaVu fonts, deterministic bytes).

The markup, one construct per line (docs/templates.md is the reference for ops engineers):

* a blank line separates paragraphs; consecutive plain lines join into one justified paragraph;
  reportlab inline tags work inside: ``<b>``, ``<i>``, ``<u>``, ``<br/>``;
* ``# text``: heading (centred, bold, larger); ``## text``: sub-heading (centred, bold);
* ``> text``: consecutive lines form the addressee block, in the right half of the page;
* ``| a | b |``: consecutive lines form a table, the first row is the bold header; cells that look like
  numbers or amounts are right-aligned; a row of only dashes (``|---|---|``) is ignored;
* ``---``: a horizontal rule; ``~~~``: a page break.

The same markup, title and author always give byte-identical PDFs (reportlab's invariant mode), so a
letter re-rendered after a crash is the same document.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, HRFlowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


class FontNotFoundError(FileNotFoundError):
    """A TTF font file the PDF needs is missing."""


class LetterMarkupError(ValueError):
    """The letter markup is malformed (e.g. an unclosed ``<b>``); the message names the markup line."""


@dataclass(frozen=True)
class FontSet:
    """The four TTF files of the letter font family. Defaults: DejaVu Sans from Debian's fonts-dejavu-core."""

    directory: Path = DEFAULT_FONT_DIR
    regular: str = "DejaVuSans.ttf"
    bold: str = "DejaVuSans-Bold.ttf"
    italic: str = "DejaVuSans-Oblique.ttf"
    bold_italic: str = "DejaVuSans-BoldOblique.ttf"


@dataclass(frozen=True)
class _Family:
    regular: str
    bold: str


_registered: dict[FontSet, _Family] = {}
_lock = threading.Lock()


def register_fonts(fonts: FontSet | None = None) -> tuple[str, str]:
    """Register the font family with reportlab once per process; return the (regular, bold) font names.

    Raises :class:`FontNotFoundError` naming the missing file and the Debian package that provides it.
    """
    fonts = fonts or FontSet()
    with _lock:
        family = _registered.get(fonts)
        if family is None:
            family = _registered[fonts] = _register(fonts)
    return family.regular, family.bold


def _register(fonts: FontSet) -> _Family:
    names: dict[str, str] = {}
    # The PDF shows the file stem as the font name (DejaVuSans-Bold). Fonts from another directory get a
    # suffix derived from that directory, so they never replace the default fonts and the name (hence
    # the PDF bytes) does not depend on which font set a process happened to register first.
    directory = Path(fonts.directory)
    digest = hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:6]
    suffix = "" if directory == DEFAULT_FONT_DIR else f"-{digest}"
    for role in ("regular", "bold", "italic", "bold_italic"):
        path = directory / getattr(fonts, role)
        if not path.is_file():
            raise FontNotFoundError(
                f"font file {path} not found: install the Debian package fonts-dejavu-core "
                f"or point FontSet(directory=...) at a directory holding {getattr(fonts, role)}"
            )
        name = path.stem + suffix
        pdfmetrics.registerFont(TTFont(name, str(path)))
        names[role] = name
    pdfmetrics.registerFontFamily(names["regular"], normal=names["regular"], bold=names["bold"],
                                  italic=names["italic"], boldItalic=names["bold_italic"])
    return _Family(names["regular"], names["bold"])


# --- styles ---------------------------------------------------------------------------------------

_MARGINS = {"leftMargin": 25 * mm, "rightMargin": 15 * mm, "topMargin": 20 * mm, "bottomMargin": 20 * mm}


def _styles(regular: str, bold: str) -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13, alignment=TA_JUSTIFY,
                          spaceAfter=6, bulletFontName=regular)
    return {
        "body": body,
        "h1": ParagraphStyle("h1", parent=body, fontName=bold, fontSize=13, leading=17, alignment=TA_CENTER,
                             spaceBefore=8, spaceAfter=4, keepWithNext=True),
        "h2": ParagraphStyle("h2", parent=body, fontName=bold, alignment=TA_CENTER, spaceAfter=10,
                             keepWithNext=True),
        # The addressee block: the right half of the page, lines left-aligned inside it, as Russian
        # business letters place the «Адресат» requisite.
        "right": ParagraphStyle("right", parent=body, alignment=TA_LEFT, leftIndent=95 * mm, spaceAfter=12),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=11, alignment=TA_LEFT, spaceAfter=0),
        "center": ParagraphStyle("center", parent=body, fontSize=9, leading=11, alignment=TA_CENTER,
                                 spaceAfter=0),
        "num": ParagraphStyle("num", parent=body, fontSize=9, leading=11, alignment=TA_RIGHT, spaceAfter=0),
        "head": ParagraphStyle("head", parent=body, fontName=bold, fontSize=9, leading=11, alignment=TA_CENTER,
                               spaceAfter=0),
        "footer": ParagraphStyle("footer", parent=body, fontSize=8, leading=10),
    }


# --- markup -> flowables ------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_NUMERIC = re.compile(r"^[-\u2212]?\d{1,3}(?:[ \u00a0]?\d{3})*(?:[.,]\d+)?(?:[ \u00a0]*(?:руб\.?|₽|[A-Z]{3}|%))?$")
_CENTERED = re.compile(r"^(?:\d{2}\.\d{2}\.\d{4}|[—–-])$")  # dates and "no value" dashes
_BREAKS = re.compile(r"[^\S\u00a0]+")
_DASH_ROW = re.compile(r"^[\s|:\-]+$")


def _typeset(text: str) -> str:
    # Russian typesetting never separates "№" from its number at a line break.
    return text.replace("№ ", "№\u00a0")


def _plain(cell: str) -> str:
    """The visible text of a cell: tags removed, entities decoded (for widths and number detection)."""
    return _typeset(html.unescape(_TAG.sub("", cell)).strip())


def _words(plain: str) -> list[str]:
    """Where a line may break: at spaces, but never at a no-break space (str.split would)."""
    return [w for w in _BREAKS.split(plain) if w]


def _paragraph(text: str, style: ParagraphStyle, lineno: int) -> Paragraph:
    text = _typeset(text)
    try:
        return Paragraph(text, style)
    except ValueError as e:  # reportlab's paraparser rejects malformed inline markup
        raise LetterMarkupError(f"letter markup line {lineno}: {e}") from None


def _fit(natural: list[float], minimum: list[float], width: float) -> list[float]:
    """Column widths filling ``width``: spare width is shared in proportion, a shortage is taken only from
    what can wrap (the slack between a column's natural width and its minimum)."""
    natural = [max(n, m) for n, m in zip(natural, minimum)]
    total = sum(natural)
    if total <= 0:
        return [width / len(natural)] * len(natural)
    if total <= width:
        return [width * n / total for n in natural]
    if sum(minimum) >= width:
        return [width * m / sum(minimum) for m in minimum]
    slack = [n - m for n, m in zip(natural, minimum)]
    excess = total - width
    return [n - excess * s / sum(slack) for n, s in zip(natural, slack)]


def _table(rows: list[tuple[int, list[str]]], styles: dict[str, ParagraphStyle], width: float) -> Table:
    ncols = max(len(cells) for _, cells in rows)
    data: list[list[Paragraph]] = []
    natural = [0.0] * ncols  # the widest cell of the column, on one line
    minimum = [0.0] * ncols  # the longest word; a whole number or date, which must never wrap
    pad = 8.0
    bold = styles["head"].fontName
    for r, (lineno, cells) in enumerate(rows):
        cells = cells + [""] * (ncols - len(cells))
        row = []
        for c, cell in enumerate(cells):
            plain = _plain(cell)
            if r == 0:
                style = styles["head"]
            else:
                style = (styles["num"] if _NUMERIC.match(plain) else
                         styles["center"] if _CENTERED.match(plain) else styles["cell"])
            font = bold if r == 0 or "<b>" in cell else style.fontName
            whole = pdfmetrics.stringWidth(plain, font, style.fontSize) + 2 * pad
            if style is styles["head"] or style is styles["cell"]:
                longest = max((pdfmetrics.stringWidth(w, font, style.fontSize) for w in _words(plain)), default=0.0)
                # An absurdly long word (a 40-character invoice number) is split rather than squeezing the rest.
                minimum[c] = max(minimum[c], min(longest + 2 * pad, 0.2 * width))
            else:
                minimum[c] = max(minimum[c], whole)
            if r > 0:  # a header wraps between its words rather than widening the column
                natural[c] = max(natural[c], whole)
            row.append(_paragraph(cell, style, lineno))
        data.append(row)
    col_widths = _fit(natural, minimum, width)
    table = Table(data, colWidths=col_widths, repeatRows=1, hAlign="CENTER")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), styles["cell"].fontName),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E6E6E6")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), pad / 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), pad / 2),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    table.spaceBefore, table.spaceAfter = 4, 10
    return table


def _split_row(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [cell.strip() for cell in inner.split("|")]


def _kind(line: str) -> str:
    if not line:
        return "blank"
    if line.startswith("|"):
        return "table"
    if line == ">" or line.startswith("> "):
        return "right"
    if line in ("---", "~~~") or line.startswith(("# ", "## ")):
        return "single"  # a one-line construct
    return "para"


def markup_to_flowables(markup: str, styles: dict[str, ParagraphStyle], width: float) -> list[Flowable]:
    """Parse letter markup into platypus flowables (see the module docstring for the markup)."""
    story: list[Flowable] = []
    para: list[str] = []
    para_line = 0
    right: list[str] = []
    right_line = 0
    rows: list[tuple[int, list[str]]] = []

    def flush() -> None:
        nonlocal para, right, rows
        if para:
            story.append(_paragraph(" ".join(para), styles["body"], para_line))
        if right:
            story.append(_paragraph("<br/>".join(right), styles["right"], right_line))
        if rows:
            story.append(_table(rows, styles, width))
        para, right, rows = [], [], []

    for lineno, raw in enumerate(markup.splitlines(), start=1):
        line = raw.strip()
        kind = _kind(line)
        # A run of one kind ends when another construct starts, with or without a blank line.
        if (kind != "para" and para) or (kind != "right" and right) or (kind != "table" and rows):
            flush()
        if kind == "blank":
            continue
        if kind == "right":
            right_line = right_line if right else lineno
            right.append(line[2:].strip())
        elif kind == "table":
            if not _DASH_ROW.match(line):
                rows.append((lineno, _split_row(line)))
        elif line == "---":
            story.append(HRFlowable(width="100%", thickness=0.7, color=colors.black, spaceBefore=4, spaceAfter=8))
        elif line == "~~~":
            story.append(PageBreak())
        elif line.startswith("## "):
            story.append(_paragraph(line[3:].strip(), styles["h2"], lineno))
        elif line.startswith("# "):
            story.append(_paragraph(line[2:].strip(), styles["h1"], lineno))
        else:
            para_line = para_line if para else lineno
            para.append(line)
    flush()
    if len(story) >= 2 and not isinstance(story[-2], PageBreak):
        # The closing ("С уважением,") must not be left at the foot of a page without the signature.
        story[-2].keepWithNext = True
    return story or [Spacer(1, 1)]


# --- page furniture ------------------------------------------------------------------------------------

def _numbered_canvas(font: str, footer_left: str) -> type[Canvas]:
    """A canvas class that writes "стр. N из M" on every page once the page count M is known."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            # Hold the page back: its footer needs the total, known only at save().
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            self.saveState()
            self.setFont(font, 8)
            self.setFillColor(colors.HexColor("#555555"))
            y = 10 * mm
            self.drawString(_MARGINS["leftMargin"], y, footer_left)
            self.drawRightString(A4[0] - _MARGINS["rightMargin"], y, f"стр. {self._pageNumber} из {total}")
            self.restoreState()

    return NumberedCanvas


#: Room kept after the signature block for the visible signature stamp, in points (85 x 25 mm).
STAMP_SIZE = (85 * mm, 25 * mm)


class _StampPlace(Flowable):
    """Empty room for the signature stamp; remembers where on which page it landed (absolute coordinates)."""

    def __init__(self, width: float, height: float, found: dict[str, Any]):
        super().__init__()
        self.width, self.height, self._found = width, height, found
        self.hAlign = "RIGHT"

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        x1, y1 = self.canv.absolutePosition(0, 0)
        self._found.update(page=self.canv.getPageNumber(), box=[round(x1, 2), round(y1, 2),
                                                                round(x1 + self.width, 2), round(y1 + self.height, 2)])


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    #: 1-based page and [x1, y1, x2, y2] in points of the room left for the signature stamp, if asked for.
    stamp_page: int | None = None
    stamp_box: tuple[float, float, float, float] | None = None


def render_pdf(markup: str, *, title: str, author: str = "arbots", fonts: FontSet | None = None) -> bytes:
    """Render letter markup into an A4 PDF and return its bytes (see :func:`render_letter`)."""
    return render_letter(markup, title=title, author=author, fonts=fonts).data


def render_letter(markup: str, *, title: str, author: str = "arbots", fonts: FontSet | None = None,
                  stamp_room: bool = False) -> RenderedPdf:
    """Render letter markup into an A4 PDF; with ``stamp_room``, keep room for the signature stamp at the end.

    The result depends only on the arguments: rendering twice gives byte-identical PDFs. Fonts are
    embedded (subset) TrueType; no standard, unembedded font is referenced. Raises
    :class:`FontNotFoundError` if a font file is missing and :class:`LetterMarkupError` for malformed
    inline markup.
    """
    regular, bold = register_fonts(fonts)
    styles = _styles(regular, bold)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, title=title, author=author, subject=title, creator="arbots",
        invariant=True,  # fixed creation date and document ID: identical bytes on every render
        initialFontName=regular,  # the page preamble would otherwise select (and reference) Helvetica
        lang="ru-RU", **_MARGINS,
    )
    story = markup_to_flowables(markup, styles, doc.width)
    found: dict[str, Any] = {}
    if stamp_room:
        story += [Spacer(1, 3 * mm), _StampPlace(*STAMP_SIZE, found)]
    # The footer is drawn with the canvas, outside Paragraph: escape nothing, it is plain text.
    doc.build(story, canvasmaker=_numbered_canvas(regular, title))
    if not found:
        return RenderedPdf(buf.getvalue())
    return RenderedPdf(buf.getvalue(), found["page"], tuple(found["box"]))
