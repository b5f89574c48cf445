"""Letters to debtors: Jinja2 templates -> letter markup -> deterministic PDF (see docs/templates.md)."""

from robots.documents.formatting import (
    amount_in_words,
    amount_in_words_capitalized,
    format_date,
    format_money,
    format_percent,
)
from robots.documents.pdf import FontNotFoundError, FontSet, LetterMarkupError, RenderedPdf, render_letter, render_pdf
from robots.documents.templates import TemplateRenderer, TemplateRenderError

__all__ = [
    "FontNotFoundError",
    "FontSet",
    "LetterMarkupError",
    "TemplateRenderError",
    "TemplateRenderer",
    "amount_in_words",
    "amount_in_words_capitalized",
    "format_date",
    "format_money",
    "format_percent",
    "RenderedPdf",
    "render_letter",
    "render_pdf",
]
