"""The readable report as content: headings, paragraphs, tables and charts, before any layout.

:func:`bi.report.build_report` fills it; :mod:`bi.report_pdf` and :mod:`bi.report_html` lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Table:
    """Cells are plain text; a newline breaks the line inside a cell."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns
    widths: tuple[float, ...]  # relative column widths


@dataclass(frozen=True)
class Picture:
    png: bytes
    alt: str


Block = str | Heading | Table | Picture  # a str is a paragraph


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    title: str
    lead: tuple[str, ...]
    sections: tuple[Section, ...]
    footer: str
