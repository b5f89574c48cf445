"""The visible signature stamp, in the usual Russian form, drawn once per certificate and reused.

pyHanko's text stamp subsets its font again for every document (about 0.15 s, most of a B-B signature), yet an
officer's stamp is the same on every document they sign. So the stamp is drawn once per certificate as a tiny PDF
(reportlab, DejaVu Sans, Cyrillic-safe) and pyHanko imports that page as the signature field's appearance.
"""

from __future__ import annotations

import binascii
import io
import uuid
from dataclasses import dataclass

from pyhanko.pdf_utils.content import ImportedPdfPage
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.stamp import StaticStampStyle
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from robots.documents.pdf import STAMP_SIZE, register_fonts

HEADING = ("ДОКУМЕНТ ПОДПИСАН", "ЭЛЕКТРОННОЙ ПОДПИСЬЮ")
INK = colors.HexColor("#1f3a93")


@dataclass(frozen=True)
class StampText:
    owner: str
    position: str
    serial: str
    valid_from: str   # dd.mm.yyyy
    valid_to: str

    def lines(self) -> list[str]:
        return [f"Сертификат: {self.serial}", f"Владелец: {self.owner}", f"Должность: {self.position}",
                f"Действителен: с {self.valid_from} по {self.valid_to}"]


def render_stamp(text: StampText, size: tuple[float, float] = STAMP_SIZE) -> bytes:
    """One page of exactly ``size`` points: a rounded frame, the heading and the certificate lines."""
    regular, bold = register_fonts()
    width, height = size
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=size, invariant=True, pageCompression=1)
    c.setStrokeColor(INK)
    c.setFillColor(INK)
    c.setLineWidth(1.2)
    c.roundRect(1, 1, width - 2, height - 2, 3 * mm)
    y = height - 4.2 * mm
    for line in HEADING:
        c.setFont(bold, 7)
        c.drawCentredString(width / 2, y, line)
        y -= 3.2 * mm
    y -= 0.8 * mm
    for line in text.lines():
        size_pt = 6.3
        while c.stringWidth(line, regular, size_pt) > width - 5 * mm and size_pt > 4:
            size_pt -= 0.2  # long names shrink to fit rather than spill over the frame
        c.setFont(regular, size_pt)
        c.drawString(2.5 * mm, y, line)
        y -= 3.1 * mm
    c.showPage()
    c.save()
    return buf.getvalue()


class _MemoryPdfPage(ImportedPdfPage):
    """pyHanko's ImportedPdfPage, from bytes in memory instead of a file."""

    def __init__(self, data: bytes):
        super().__init__(file_name="<memory>")
        self._data = data

    def render(self) -> bytes:
        w = self._ensure_writer
        xobj = w.import_page_as_xobject(PdfFileReader(io.BytesIO(self._data)), page_ix=0)
        name = b"/Import" + binascii.hexlify(uuid.uuid4().bytes)
        self.resources.xobject[name.decode("ascii")] = xobj
        x1, y1, x2, y2 = xobj.get_object()["/BBox"]
        self.box = BoxConstraints(width=abs(x1 - x2), height=abs(y1 - y2))
        return name + b" Do"


def stamp_style(stamp_pdf: bytes) -> StaticStampStyle:
    """A fresh style per document: pyHanko binds a stamp's content to the writer it draws into."""
    return StaticStampStyle(background=_MemoryPdfPage(stamp_pdf), border_width=0, background_opacity=1.0)
