"""Letter markup -> PDF, checked with poppler (pdftotext, pdfinfo), an independent PDF reader."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import HRFlowable, PageBreak, Paragraph

from robots.documents.pdf import (
    FontNotFoundError,
    FontSet,
    LetterMarkupError,
    _styles,
    markup_to_flowables,
    register_fonts,
    render_pdf,
)
from robots.documents.templates import TemplateRenderer

from .test_templates import LETTERS, SHIPPED_DIR, flat, sample_context

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
    reason="poppler-utils (pdftotext, pdfinfo) is not installed",
)


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page as pdftotext extracts it (pages are separated by form feeds)."""
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True).stdout
    pages = out.decode("utf-8").split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdf_info(pdf: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", "-enc", "UTF-8", str(path)], check=True, capture_output=True).stdout
    return dict(re.findall(r"^([^:]+):\s*(.*)$", out.decode("utf-8"), re.M))


@needs_poppler
@pytest.mark.parametrize("name", LETTERS)
def test_every_shipped_letter_becomes_a_readable_pdf(name: str, tmp_path: Path) -> None:
    ctx = sample_context(counterparty_name='ООО "Ромашка & <b>Сыновья</b>"')
    markup = TemplateRenderer(SHIPPED_DIR).render(name, ctx)
    pdf = render_pdf(markup, title=f"Письмо {ctx['document']['number']}")
    assert pdf.startswith(b"%PDF-")
    pages = pdf_pages(pdf, tmp_path)
    assert len(pages) == 1  # three invoices fit a one-page letter
    text = flat(pages[0])
    assert 'ООО "Ромашка & <b>Сыновья</b>"' in text  # escaped markup is printed, not interpreted
    assert "сто семьдесят семь тысяч четыре рубля 50 копеек" in text
    assert "177 004,50 руб." in text
    for inv in ctx["invoices"]:
        assert inv["number"] in text
    assert "стр. 1 из 1" in text
    assert pdf_info(pdf, tmp_path)["Title"] == "Письмо ARB-2026-000123"


def test_rendering_is_deterministic() -> None:
    markup = TemplateRenderer(SHIPPED_DIR).render("pretrial_demand.j2", sample_context())
    assert render_pdf(markup, title="Претензия") == render_pdf(markup, title="Претензия")
    assert render_pdf(markup, title="Претензия") != render_pdf(markup, title="Другое")


def test_rendering_is_deterministic_across_processes() -> None:
    """A re-render after a crash runs in a new process: font registration order must not matter."""
    markup = "# ПРЕТЕНЗИЯ\n\nТекст <b>жирный</b> и <i>курсив</i>.\n\n| Счёт | Сумма |\n| СЧ-1 | 1 000,00 |\n"
    code = (
        "import sys; from robots.documents.pdf import render_pdf; "
        "sys.stdout.buffer.write(render_pdf(sys.stdin.read(), title='T'))"
    )
    other = subprocess.run([sys.executable, "-c", code], input=markup.encode(), check=True,
                           capture_output=True, cwd=Path(__file__).resolve().parents[2]).stdout
    render_pdf("другой документ сначала", title="X")  # register fonts and render something else first
    assert render_pdf(markup, title="T") == other


def test_fonts_are_embedded_and_helvetica_is_never_referenced() -> None:
    pdf = render_pdf("# Заголовок\n\nТекст <b>ж</b> <i>к</i> <b><i>жк</i></b>\n\n| a | b |\n| 1 | 2 |\n", title="T")
    assert b"Helvetica" not in pdf
    assert b"+DejaVuSans" in pdf and b"+DejaVuSans-Bold" in pdf and b"+DejaVuSans-Oblique" in pdf
    assert b"/FontFile2" in pdf  # embedded TrueType programs


@needs_poppler
def test_markup_constructs(tmp_path: Path) -> None:
    markup = "\n".join([
        "# ЗАГОЛОВОК",
        "## Подзаголовок",
        "> Адресат, строка 1",
        "> строка 2",
        "Первая строка абзаца",
        "продолжение абзаца.",
        "",
        "Второй абзац.",
        "---",
        "| Номер | Сумма |",
        "|---|---:|",
        "| СЧ-1 | 1 000,00 |",
        "~~~",
        "Вторая страница.",
    ])
    pages = pdf_pages(render_pdf(markup, title="T"), tmp_path)
    assert len(pages) == 2
    first = flat(pages[0])
    assert "ЗАГОЛОВОК Подзаголовок" in first
    assert "Адресат, строка 1 строка 2" in first
    assert "Первая строка абзаца продолжение абзаца. Второй абзац." in first
    assert "Номер Сумма СЧ-1 1 000,00" in first and "---" not in first
    assert "Вторая страница." in pages[1] and "стр. 2 из 2" in pages[1]


@needs_poppler
def test_long_table_spans_pages_and_repeats_its_header(tmp_path: Path) -> None:
    ctx = sample_context(n_invoices=90)
    markup = TemplateRenderer(SHIPPED_DIR).render("lawsuit_notice.j2", ctx)
    pages = pdf_pages(render_pdf(markup, title="T"), tmp_path)
    assert len(pages) >= 3
    for i, page in enumerate(pages, start=1):
        assert "Номер счёта" in flat(page)  # the header row is repeated on every page of the table
        assert f"стр. {i} из {len(pages)}" in page
    text = flat(" ".join(pages))
    assert all(inv["number"] in text for inv in ctx["invoices"])
    assert "И. И. Петров" in flat(pages[-1])


def test_malformed_inline_markup_names_the_line() -> None:
    with pytest.raises(LetterMarkupError, match="line 3"):
        render_pdf("Хорошо.\n\nПлохо: <b>не закрыт\n", title="T")


def test_missing_font_names_file_and_package(tmp_path: Path) -> None:
    with pytest.raises(FontNotFoundError, match=r"DejaVuSans\.ttf.*fonts-dejavu-core"):
        render_pdf("текст", title="T", fonts=FontSet(directory=tmp_path))


def test_a_font_set_from_another_directory(tmp_path: Path) -> None:
    """Custom FontSets register under their own names and do not replace the default fonts."""
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf"):
        shutil.copy(FontSet().directory / name, tmp_path / name)
    render_pdf("текст", title="T")  # the default set is registered
    pdf = render_pdf("текст <b>жирный</b>", title="T", fonts=FontSet(directory=tmp_path))
    assert b"+DejaVuSans-Bold" in pdf and b"Helvetica" not in pdf
    assert pdfmetrics.getFont("DejaVuSans").face.filename == str(FontSet().directory / "DejaVuSans.ttf")


def test_one_line_constructs_end_a_paragraph_without_a_blank_line() -> None:
    story = markup_to_flowables("Абзац\n---\nещё\n~~~\nи ещё\n# Заголовок\nтекст", _styles(*register_fonts()), 400)
    kinds = [type(f) for f in story]
    assert kinds == [Paragraph, HRFlowable, Paragraph, PageBreak, Paragraph, Paragraph, Paragraph]
    assert [f.text for f in story if isinstance(f, Paragraph)] == ["Абзац", "ещё", "и ещё", "Заголовок", "текст"]
