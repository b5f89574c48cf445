"""The report as one self-contained HTML page: inline CSS, charts as base64 PNG, nothing fetched."""

from __future__ import annotations

import base64
import html

from bi.report_model import Heading, Picture, Report, Table

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 13px; color: #222; max-width: 960px;
       margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
h3 { font-size: 14px; margin: 18px 0 6px; } p.lead { margin: 2px 0; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 12px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 6px; vertical-align: top; }
th { background: #eeeeee; } td.num { text-align: right; white-space: nowrap; }
tr:nth-child(even) td { background: #f8f8f8; } img { max-width: 100%; }
footer { margin-top: 24px; color: #666; font-size: 11px; }
""".strip()


def render_html(report: Report) -> str:
    """The report as one HTML page; charts inline, nothing fetched from anywhere."""
    e = html.escape
    parts = ['<!DOCTYPE html>', '<html lang="ru">', '<head>', '<meta charset="utf-8">',
             f"<title>{e(report.title)}: {e(report.lead[1])}</title>", f"<style>\n{_CSS}\n</style>", "</head>",
             "<body>", f"<h1>{e(report.title)}</h1>"]
    parts += [f'<p class="lead">{_inline(line)}</p>' for line in report.lead]
    for section in report.sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Heading):
                parts.append(f"<h3>{e(block.text)}</h3>")
            elif isinstance(block, Picture):
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(f'<p><img alt="{e(block.alt)}" src="data:image/png;base64,{data}"></p>')
            elif isinstance(block, Table):
                parts.append("<table>")
                parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in block.header) + "</tr>")
                for row in block.rows:
                    cells = (f'<td class="num">{_cell(c)}</td>' if num else f"<td>{_cell(c)}</td>"
                             for c, num in zip(row, block.numeric))
                    parts.append("<tr>" + "".join(cells) + "</tr>")
                parts.append("</table>")
            else:
                parts.append(f"<p>{_inline(block)}</p>")
    parts += [f"<footer>{e(report.footer)}</footer>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _inline(text: str) -> str:
    """Escape a paragraph but keep the only markup the content uses: <b>...</b>."""
    return html.escape(text).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")


def _cell(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
