"""FileConnector and write_ledger_csv on real files in tmp_path: both dialects, every kind of bad input."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import Connector, ConnectorUnavailable, Problem, SyncRejected
from connectors.files.connector import FileConnector
from connectors.files.ledger_csv import write_ledger_csv
from connectors.records import parse_date, parse_money, parse_penalty_percent
from demo.ledger import generate_demo_ledger
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from tests.texts import has_number

NBSP, NNBSP = "\u00a0", "\u202f"

EXPECTED = Ledger(
    counterparties=(
        Counterparty("CP1", 'ООО "Ромашка"; филиал', "7707083893", "buh@romashka.ru", "key_accounts"),
        Counterparty("CP2", "ИП Иванов И. И.", "500100732259", "ivanov@mail.ru", "default"),
    ),
    contracts=(
        Contract("C1", "15/2025-П", "CP1", 30, "RUB", Decimal("0.001")),
        Contract("C2", "Д-0042", "CP2", 0, "RUB", None),
    ),
    invoices=(
        Invoice("I1", "101", "C1", date(2026, 3, 31), date(2026, 4, 30), Decimal("1234567.89")),
        Invoice("I2", "102-К", "C2", date(2026, 4, 1), date(2026, 4, 1), Decimal("-500.00")),
        Invoice("I3", "103", "C1", date(2026, 4, 1), date(2026, 5, 1), Decimal("500.50")),
        Invoice("I4", "103", "C1", date(2026, 4, 1), date(2026, 6, 1), Decimal("1000.00")),
    ),
    payments=(
        Payment("P1", "C1", date(2026, 4, 10), Decimal("1000000.00"), "I1"),
        Payment("P2", "C2", date(2026, 4, 20), Decimal("99.90"), None),
    ),
)

# The same ledger as Excel in a Russian locale saves it: ';', dd.mm.yyyy, comma decimals, no-break-space
# thousands, odd header spelling, an extra column, empty optional values.
EXCEL_RU = {
    "counterparties.csv": 'ID;Name;INN;E-mail;email;Group\r\nCP1;"ООО ""Ромашка""; филиал";7707083893;x;'
                          "buh@romashka.ru;key_accounts\r\nCP2;ИП Иванов И. И.;500100732259;;ivanov@mail.ru;\r\n",
    "contracts.csv": "id;number;Counterparty_ID;payment_days;currency;Penalty_Rate_Per_Day;Комментарий\r\n"
                     "C1;15/2025-П;CP1;30;;0,1%;поставка\r\nC2;Д-0042;CP2;;rub;;\r\n",
    "invoices.csv": f"id;number;contract_id;date;due_date;amount\r\nI1;101;C1;31.03.2026;;1{NBSP}234{NBSP}567,89\r\n"
                    "I2;102-К;C2;01.04.2026;;-500,00\r\nI3;103;C1;01.04.2026;01.05.2026;500,5\r\n"
                    "I4;103;C1;1.4.2026;01.06.2026;1 000\r\n;;;;;\r\n",
    "payments.csv": "id;contract_id;invoice_id;date;amount\r\nP1;C1;I1;10.04.2026;1 000 000,00\r\n"
                    "P2;C2;;20.04.2026;99,9\r\n",
}
UTF8 = {
    "counterparties.csv": 'id,name,inn,email,group\nCP1,"ООО ""Ромашка""; филиал",7707083893,buh@romashka.ru,'
                          "key_accounts\nCP2,ИП Иванов И. И.,500100732259,ivanov@mail.ru,\n",
    "contracts.csv": "id,number,counterparty_id,payment_days,currency,penalty_rate_per_day\n"
                     "C1,15/2025-П,CP1,30,RUB,0.1\nC2,Д-0042,CP2,,RUB,\n",
    "invoices.csv": f'id,number,contract_id,date,due_date,amount\nI1,101,C1,2026-03-31,,"1{NNBSP}234{NNBSP}567,89"\n'
                    "I2,102-К,C2,2026-04-01,2026-04-01,-500\nI3,103,C1,2026-04-01,2026-05-01,500.50\n"
                    "I4,103,C1,2026-04-01,2026-06-01,1000.00\n",
    "payments.csv": "id,contract_id,invoice_id,date,amount\nP1,C1,I1,2026-04-10,1000000\nP2,C2,,2026-04-20,99.90\n",
}


def write_files(folder: Path, files: dict[str, str], encoding: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode(encoding))
    return folder


def pull(folder: Path, **kw) -> Ledger:
    return FileConnector("files", folder, **kw).pull()


def rejected(folder: Path, **kw) -> tuple[Problem, ...]:
    with pytest.raises(SyncRejected) as exc:
        pull(folder, **kw)
    assert exc.value.connector_id == "files"
    return exc.value.problems


def test_excel_ru_cp1251_and_utf8_bom_load_the_same_ledger(tmp_path: Path) -> None:
    ru = write_files(tmp_path / "ru", EXCEL_RU, "cp1251")
    assert b"\xa0" in (ru / "invoices.csv").read_bytes()  # really cp1251 bytes with a no-break space
    assert pull(ru) == EXPECTED
    assert pull(write_files(tmp_path / "bom", UTF8, "utf-8-sig")) == EXPECTED
    assert pull(write_files(tmp_path / "plain", UTF8, "utf-8")) == EXPECTED


def test_excel_ru_dialect_also_loads_from_utf8(tmp_path: Path) -> None:
    assert pull(write_files(tmp_path, EXCEL_RU, "utf-8-sig")) == EXPECTED


def test_connector_protocol() -> None:
    assert isinstance(FileConnector("files", Path(".")), Connector)


@pytest.mark.parametrize("dialect", ["utf8", "excel-ru"])
def test_round_trip_of_the_demo_ledger(tmp_path: Path, dialect: str) -> None:
    ledger = generate_demo_ledger()
    write_ledger_csv(ledger, tmp_path, dialect)
    assert pull(tmp_path) == ledger
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(EXCEL_RU)  # no temporary files left behind


def test_writer_dialects_bytes(tmp_path: Path) -> None:
    write_ledger_csv(EXPECTED, tmp_path / "ru", "excel-ru")
    raw = (tmp_path / "ru" / "invoices.csv").read_bytes()
    assert b"I1;101;C1;31.03.2026;30.04.2026;1\xa0234\xa0567,89\r\n" in raw
    assert "15/2025-П;CP1;30;RUB;0,1;\r\n".encode("cp1251") in (tmp_path / "ru" / "contracts.csv").read_bytes()
    write_ledger_csv(EXPECTED, tmp_path / "u", "utf8")
    raw = (tmp_path / "u" / "invoices.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,number,contract_id,date,due_date,amount\r\n")
    assert b"I1,101,C1,2026-03-31,2026-04-30,1234567.89\r\n" in raw
    assert pull(tmp_path / "ru") == pull(tmp_path / "u") == EXPECTED


def test_writer_overwrites_and_refuses_what_cp1251_cannot_encode(tmp_path: Path) -> None:
    write_ledger_csv(EXPECTED, tmp_path, "utf8")
    emoji = Ledger(counterparties=(Counterparty("X", "ООО «Смайл 🙂»"),))
    with pytest.raises(ValueError, match="cp1251"):
        write_ledger_csv(emoji, tmp_path, "excel-ru")
    assert pull(tmp_path) == EXPECTED  # nothing was written
    with pytest.raises(ValueError, match="dialect"):
        write_ledger_csv(EXPECTED, tmp_path, "xlsx")
    write_ledger_csv(Ledger(), tmp_path, "excel-ru")
    assert pull(tmp_path) == Ledger()


@pytest.mark.parametrize("text, value", [
    ("1234.56", "1234.56"), ("1 234,56", "1234.56"), (f"1{NBSP}234{NBSP}567,8", "1234567.80"),
    (f"1{NNBSP}000", "1000.00"), ("-50", "-50.00"), (" 0,5 ", "0.50"), ("1234567", "1234567.00"),
])
def test_parse_money(text: str, value: str) -> None:
    assert parse_money(text) == Decimal(value)
    assert str(parse_money(text)) == value  # always exactly two decimals


@pytest.mark.parametrize("text, fragment", [
    ("12,3,4", "is not a number"), ("100 руб", "contains letters"), ("1e5", "letters"),
    ("1,234.56", "both ',' and '.'"), ("10.123", "more than 2 decimal"), ("", "empty"), ("12 34", "not a number"),
    ("--5", "not a number"), ("5.", "not a number"), ("1" * 16, "too large"), ("١٢٣", "not a number"),
])
def test_parse_money_refuses(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="1234.56 or 1 234,56") as exc:
        parse_money(text)
    assert fragment in str(exc.value)


def test_parse_date_and_penalty() -> None:
    assert parse_date("2026-03-31") == parse_date("31.03.2026") == parse_date("31.3.2026") == date(2026, 3, 31)
    for bad in ("31/03/2026", "2026-02-30", "31.03.26", "2026-3-31", "tomorrow"):
        with pytest.raises(ValueError, match="2026-03-31 or 31.03.2026"):
            parse_date(bad)
    for text in ("0.1", "0,1", "0.1%", " 0,1 % "):
        assert parse_penalty_percent(text) == Decimal("0.001")
    assert parse_penalty_percent("") is None
    assert parse_penalty_percent("0.05") == Decimal("0.0005")
    for bad in ("abc", "-0.1", "1/300", "150"):
        with pytest.raises(ValueError, match="0.1, 0,1 or 0.1%"):
            parse_penalty_percent(bad)


# --- bad input: one problem, at the right place, and no ledger ---------------------------------------------------

ROWS = {name: list(csv.reader(text.splitlines())) for name, text in UTF8.items()}


def write_rows(folder: Path, changes: dict[tuple[str, int, str], str] | None = None) -> Path:
    """Write the UTF-8 files with cells changed: {(file, line, column): value}."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in ROWS.items():
        rows = [list(r) for r in rows]
        for (file, line, column), value in (changes or {}).items():
            if file == name:
                rows[line - 1][rows[0].index(column)] = value
        with open(folder / name, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
    return folder


BAD_CELLS = [
    ("invoices.csv", 2, "amount", "12,3,4", "'12,3,4' is not a number; write it as 1234.56 or 1 234,56"),
    ("invoices.csv", 3, "amount", "0", "the amount is 0"),
    ("invoices.csv", 4, "amount", "", "the amount is empty"),
    ("invoices.csv", 4, "date", "31/03/2026", "write it as 2026-03-31 or 31.03.2026"),
    ("invoices.csv", 5, "due_date", "2026-02-30", "not a real calendar date"),
    ("invoices.csv", 5, "due_date", "2026-03-01", "is before the invoice date 2026-04-01"),
    ("invoices.csv", 3, "contract_id", "C9", "unknown contract 'C9'"),
    ("invoices.csv", 3, "id", "I1", "duplicate id 'I1': already used at invoices.csv:2"),
    ("invoices.csv", 3, "number", "", "is empty"),
    ("payments.csv", 3, "amount", "-99.90", "greater than 0"),
    ("payments.csv", 2, "amount", "0", "greater than 0"),
    ("payments.csv", 2, "contract_id", "C9", "unknown contract 'C9'"),
    ("payments.csv", 2, "invoice_id", "I9", "unknown invoice 'I9'"),
    ("payments.csv", 2, "invoice_id", "I2", "invoice 'I2' belongs to contract 'C2', not to 'C1'"),
    ("payments.csv", 3, "date", "2026-04-31", "not a real calendar date"),
    ("contracts.csv", 2, "counterparty_id", "CP9", "unknown counterparty 'CP9'"),
    ("contracts.csv", 2, "payment_days", "-5", "not a whole number of days"),
    ("contracts.csv", 3, "payment_days", "30 дней", "not a whole number of days"),
    ("contracts.csv", 2, "currency", "руб", "3 latin letters"),
    ("contracts.csv", 2, "penalty_rate_per_day", "0.1 в день", "not a percent per day"),
    ("payments.csv", 3, "id", "P1", "duplicate id 'P1': already used at payments.csv:2"),
    ("counterparties.csv", 2, "name", "", "is empty"),
]


@pytest.mark.parametrize("file, line, column, value, message", BAD_CELLS)
def test_each_bad_value_is_one_located_problem(tmp_path: Path, file, line, column, value, message) -> None:
    assert pull(write_rows(tmp_path / "ok")) == EXPECTED  # the base is valid
    [problem] = rejected(write_rows(tmp_path / "bad", {(file, line, column): value}))
    assert (problem.source, problem.line, problem.column) == (file, line, column)
    assert message in problem.message
    assert str(problem).startswith(f"{file}:{line} column '{column}': ")


def test_problem_str_matches_the_documented_form() -> None:
    p = Problem("invoices.csv", "'12,3,4' is not a number; write it as 1234.56 or 1 234,56", 17, "amount")
    assert str(p) == "invoices.csv:17 column 'amount': '12,3,4' is not a number; write it as 1234.56 or 1 234,56"
    assert str(Problem("payments.csv", "the file is missing")) == "payments.csv: the file is missing"


def test_all_problems_of_all_files_at_once_in_file_order(tmp_path: Path) -> None:
    folder = write_rows(tmp_path, {("payments.csv", 3, "amount"): "abc", ("invoices.csv", 2, "date"): "x",
                                   ("counterparties.csv", 2, "group"): "vip", ("invoices.csv", 5, "amount"): "1.001"})
    (folder / "contracts.csv").unlink()
    problems = rejected(folder, known_groups=frozenset({"default", "key_accounts"}))
    assert [(p.source, p.line) for p in problems] == [
        ("counterparties.csv", 2), ("contracts.csv", None), ("invoices.csv", 2), ("invoices.csv", 5),
        ("payments.csv", 3)]
    assert "known groups: default, key_accounts" in problems[0].message
    assert "missing" in problems[1].message and "counterparty_id" in problems[1].message
    # contracts.csv is unusable: no cascade of "unknown contract" problems from the files that refer to it.


def test_sync_rejected_message_lists_problems_and_caps_them() -> None:
    exc = SyncRejected("files", tuple(Problem("a.csv", f"bad {i}", i + 2) for i in range(53)))
    lines = str(exc).splitlines()
    assert "rejected" in lines[0] and "nothing was applied" in lines[0] and has_number(lines[0], "53 problems")
    assert lines[1].strip() == "a.csv:2: bad 0" and len(lines) == 1 + 50 + 1
    assert lines[-1].strip() == "... and 3 more"


def test_missing_column_is_one_problem_with_the_header_found(tmp_path: Path) -> None:
    folder = write_rows(tmp_path)
    (folder / "invoices.csv").write_text("id;number;contract;date\nI1;101;C1;2026-03-31\n", encoding="utf-8")
    problems = rejected(folder)
    assert len(problems) == 1 and problems[0].line == 1
    assert str(problems[0]) == ("invoices.csv:1: missing columns contract_id, amount; "
                                "the header found is: id, number, contract, date")


def test_missing_file_and_missing_folder(tmp_path: Path) -> None:
    folder = write_rows(tmp_path / "f")
    (folder / "payments.csv").unlink()
    [problem] = rejected(folder)
    assert problem.source == "payments.csv" and "missing" in problem.message
    with pytest.raises(ConnectorUnavailable, match="does not exist"):
        pull(tmp_path / "nowhere")
    with pytest.raises(ConnectorUnavailable, match="not a folder"):
        pull(folder / "invoices.csv")


def test_unreadable_file_is_unavailable_not_rejected(tmp_path: Path) -> None:
    # A folder where the file should be fails to read with an OSError, as an unreadable file does; this works
    # as root too (root reads a chmod 0 file), so CI never skips it.
    folder = write_rows(tmp_path)
    (folder / "invoices.csv").unlink()
    (folder / "invoices.csv").mkdir()
    with pytest.raises(ConnectorUnavailable):
        pull(folder)


def test_unquoted_comma_decimal_in_a_comma_file_is_caught(tmp_path: Path) -> None:
    folder = write_rows(tmp_path)
    text = (folder / "payments.csv").read_text(encoding="utf-8").replace("99.90", "99,90")
    (folder / "payments.csv").write_text(text, encoding="utf-8")
    [problem] = rejected(folder)
    assert (problem.source, problem.line, problem.column) == ("payments.csv", 3, None)
    assert "must be in double quotes" in problem.message


def test_line_numbers_are_physical_lines(tmp_path: Path) -> None:
    folder = write_rows(tmp_path, {("counterparties.csv", 2, "name"): "ООО «Многострочная»\nадрес: Москва"})
    text = (folder / "counterparties.csv").read_text(encoding="utf-8").replace("ivanov@mail.ru,", "ivanov@mail.ru,x")
    (folder / "counterparties.csv").write_text("\n" + text, encoding="utf-8")  # a blank line before the header
    [problem] = rejected(folder, known_groups=frozenset({"default", "key_accounts"}))
    assert (problem.line, problem.column) == (5, "group")


def test_broken_files(tmp_path: Path) -> None:
    folder = write_rows(tmp_path)
    (folder / "invoices.csv").write_bytes("id,number\n".encode("utf-16"))
    (folder / "payments.csv").write_text('id,contract_id,invoice_id,date,amount\nP1,C1,"I1,2026-04-10,5\n')
    (folder / "contracts.csv").write_bytes(b"")
    problems = rejected(folder)
    assert [p.source for p in problems] == ["contracts.csv", "invoices.csv", "payments.csv"]
    assert "the table is empty" in problems[0].message
    assert "UTF-16" in problems[1].message
    assert "quoting" in problems[2].message and problems[2].line == 2


def test_defaults_and_known_groups(tmp_path: Path) -> None:
    ledger = pull(write_rows(tmp_path), known_groups=frozenset({"default", "key_accounts"}))
    assert ledger.counterparties[1].group == "default"
    assert ledger.contracts[1] == Contract("C2", "Д-0042", "CP2", 0, "RUB", None)
    assert ledger.invoices[0].due_date == date(2026, 4, 30)  # empty due date: date + 30 payment days
    assert ledger.payments[1].invoice_id is None
