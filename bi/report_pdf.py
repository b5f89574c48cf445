"""The report as an A4 PDF (reportlab platypus): embedded DejaVu fonts, charts at the text width, page footer.

reportlab's invariant mode fixes the creation date and the document ID, so the same report gives the same bytes.
"""

from __future__ import annotations

import html
import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from bi.report_model import Heading, Picture, Report
from bi.report_model import Table as ReportTable
from robots.documents.pdf import register_fonts

#: Tables up to this many rows move to the next page whole rather than split.
KEEP_TABLE_ROWS = 15
_MARGINS = {"leftMargin": 14 * mm, "rightMargin": 14 * mm, "topMargin": 14 * mm, "bottomMargin": 16 * mm}


def _styles(regular: str, bold: str) -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12, spaceAfter=4, alignment=TA_LEFT)
    return {
        "body": body,
        "title": ParagraphStyle("title", parent=body, fontName=bold, fontSize=16, leading=20, spaceAfter=6),
        "lead": ParagraphStyle("lead", parent=body, fontSize=10, leading=13, spaceAfter=2),
        "h1": ParagraphStyle("h1", parent=body, fontName=bold, fontSize=12.5, leading=16, spaceBefore=10,
                             spaceAfter=5),
        "h2": ParagraphStyle("h2", parent=body, fontName=bold, fontSize=9.5, leading=12, spaceBefore=6,
                             spaceAfter=3),
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9.2, spaceAfter=0),
        "num": ParagraphStyle("num", parent=body, fontSize=7.5, leading=9.2, spaceAfter=0, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", parent=body, fontName=bold, fontSize=7.5, leading=9.2, spaceAfter=0),
    }


def _text(s: str) -> str:
    """Escape for reportlab's mini-markup, keeping the <b> the content uses; a newline breaks the line."""
    escaped = html.escape(s, quote=False).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")
    return escaped.replace("\n", "<br/>")


def _table(t: ReportTable, styles: dict[str, ParagraphStyle], width: float) -> Table:
    scale = width / sum(t.widths)
    head = [Paragraph(_text(h), styles["head"]) for h in t.header]
    body = [[Paragraph(_text(c), styles["num" if num else "cell"]) for c, num in zip(row, t.numeric)]
            for row in t.rows]
    table = Table([head, *body], colWidths=[w * scale for w in t.widths], repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), styles["cell"].fontName),  # else reportlab references Helvetica
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c8c8c8")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    style += [("BACKGROUND", (0, r), (-1, r), colors.HexColor("#f7f7f7")) for r in range(2, len(body) + 1, 2)]
    table.setStyle(TableStyle(style))
    table.spaceAfter = 6
    return table


def _picture(p: Picture, width: float) -> Image:
    w, h = ImageReader(io.BytesIO(p.png)).getSize()
    return Image(io.BytesIO(p.png), width=width, height=width * h / w)


def render_pdf(report: Report) -> bytes:
    regular, bold = register_fonts()
    styles = _styles(regular, bold)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title=f"{report.title}: {report.lead[1]}", author="arbots",
                            subject=report.footer, creator="arbots", invariant=True, initialFontName=regular,
                            lang="ru-RU", **_MARGINS)
    story: list[Any] = [Paragraph(_text(report.title), styles["title"])]
    story += [Paragraph(_text(line), styles["lead"]) for line in report.lead]
    for section in report.sections:
        pending: list[Any] = [Paragraph(_text(section.title), styles["h1"])]
        for block in section.blocks:
            if isinstance(block, Heading):
                story += pending
                pending = [Paragraph(_text(block.text), styles["h2"])]
            elif isinstance(block, Picture):
                # a heading and its chart stay on one page
                story.append(KeepTogether([*pending, _picture(block, doc.width), Spacer(1, 2 * mm)]))
                pending = []
            elif isinstance(block, ReportTable):
                table = _table(block, styles, doc.width)
                if len(block.rows) <= KEEP_TABLE_ROWS:  # a short table is not split, nor left without its heading
                    story.append(KeepTogether([*pending, table]))
                else:
                    story += [*pending, table]
                pending = []
            else:
                pending.append(Paragraph(_text(block), styles["body"]))
        story += pending

    def footer(canvas: Any, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(_MARGINS["leftMargin"], 8 * mm, report.footer)
        canvas.drawRightString(A4[0] - _MARGINS["rightMargin"], 8 * mm, f"стр. {canvas.getPageNumber()}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
