"""`export bi` and `export report` from the command line, on the world the archive tests use (signed letters)."""

from __future__ import annotations

import subprocess

import duckdb

from tests.archive.test_verify import cli


def test_export_bi_writes_csv_and_parquet_that_duckdb_reads(world, tmp_path):
    out = tmp_path / "bi"
    r = cli(world, "export", "bi", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "as of 2026-03-20" in r.stdout  # the last evaluated day, not the wall clock
    assert (out / "README.md").is_file()
    db = duckdb.connect()
    docs = db.execute(f"SELECT count(*) FROM read_parquet('{out}/parquet/fact_documents.parquet')").fetchone()[0]
    assert docs == len(world.pdfs()) == 12
    csv_docs = db.execute(f"SELECT count(*) FROM read_csv_auto('{out}/csv/fact_documents.csv')").fetchone()[0]
    assert csv_docs == docs


def test_export_bi_refuses_a_range_that_ends_before_it_starts(world, tmp_path):
    r = cli(world, "export", "bi", "--out", str(tmp_path / "bi"), "--as-of", "2026-03-01", "--from", "2026-03-05")
    assert r.returncode == 2 and "after" in r.stderr
    assert not (tmp_path / "bi").exists()


def test_export_report_writes_a_readable_pdf_and_html(world, tmp_path):
    pdf = tmp_path / "отчёт.pdf"
    r = cli(world, "export", "report", "--out", str(pdf), "--as-of", "2026-03-20")
    assert r.returncode == 0, r.stderr
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "ООО «Клиент 0»" in text and "Дебиторская задолженность" in text
    html = tmp_path / "report.html"
    assert cli(world, "export", "report", "--out", str(html)).returncode == 0
    assert "data:image/png;base64," in html.read_text(encoding="utf-8")
    r = cli(world, "export", "report", "--out", str(tmp_path / "report.docx"))
    assert r.returncode == 2 and "*.pdf or *.html" in r.stderr
