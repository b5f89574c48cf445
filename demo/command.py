"""``demo``: a self-contained workdir, a generated Russian B2B ledger, and 60 simulated days of robot work.

The workdir gets a copy of the config and scenarios it used, the SQLite database and the archive with every
letter. The built-in demo accounting system (demo/erp/: an HTML UI behind a login and a JSON API) runs on the
loopback address the config's REST connector names; each simulated day it knows what was booked by that day, and
the robots tick once, reading it over the API like any accounting system. (A workdir whose config reads CSV files
instead gets the day's ledger written as CSV.) Running the demo again continues from the last simulated day
(re-ticking it, which finds nothing new if it had finished) and duplicates nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.files.ledger_csv import write_ledger_csv
from demo.ledger import generate_demo_ledger, ledger_as_of
from robots.config import Config, load_config
from robots.core.domain import Ledger
from robots.core.errors import UsageError
from robots.engine.services import services_for
from robots.engine.summary import Summary, summarize
from robots.engine.tick import TickReport, tick
from robots.store import Store
from robots.support.clock import SystemClock

REPO = Path(__file__).resolve().parents[1]
DEMO_START = date(2026, 1, 12)
DEMO_SEED = 7


@dataclass
class DemoResult:
    workdir: Path
    config: Config
    days_run: list[date]
    summary: Summary
    #: What the robots made of the simulation for people: the readable report, the BI export, the archive check.
    report: Path | None = None
    bi: Path | None = None
    verify: Any = None


def prepare_workdir(workdir: Path) -> Path:
    """Copy schedules.yaml and scenarios/ into ``workdir`` once; later runs use (and keep) the copy."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "schedules.yaml"
    if not config_path.exists():
        shutil.copytree(REPO / "scenarios", workdir / "scenarios", dirs_exist_ok=True)
        text = (REPO / "schedules.yaml").read_text(encoding="utf-8")
        # The demo simulates a day per tick at whatever hour it is started: the sending window (no mail at night)
        # would park every letter, so the workdir's copy goes without it.
        text = re.sub(r"(?m)^(\s+)window: .*$", r"\1window: null   # the demo simulates days at any hour", text)
        config_path.write_text(text, encoding="utf-8")
    return config_path


def demo_pki(config: Config, now: datetime):
    """The demo PKI the config's officers point at (var/pki), generated on the first run and kept after.

    Its services (TSA, OCSP, CRLs) listen on the loopback port of signing.timestamp.url; the certificates name
    that port, so the PKI keeps it for good.
    """
    from urllib.parse import urlsplit

    from demo.pki import OfficerCert, ensure_pki

    officers = [OfficerCert(oid, o.name, o.position) for oid, o in config.settings.officers.items() if o.pkcs12]
    tsa = config.settings.signing.timestamp
    port = urlsplit(tsa.url).port if tsa else None
    if not officers or port is None:
        raise UsageError("the demo signs every document: schedules.yaml needs officers with pkcs12 files and "
                         "signing.timestamp.url on a loopback port (see the repository's schedules.yaml)")
    return ensure_pki(config.resolve(Path("var/pki")), officers, now=now, port=port)


def run_demo(
    workdir: Path,
    days: int,
    clock: Callable[[], datetime],
    on_day: Callable[[date, TickReport], None] | None = None,
) -> DemoResult:
    from demo.pki import PKIServer

    config = load_config(prepare_workdir(workdir))
    from archive.verify import find_bags

    if any(not (folder / "bagit.txt").exists() for folder in find_bags(config.archive_dir)):
        raise UsageError(f"the demo workdir {workdir} was made by an older arbots (its archive folders are not "
                         "BagIt bags); remove it (`make clean`) and run the demo again")
    ledger = generate_demo_ledger(seed=DEMO_SEED, start=DEMO_START, days=days, discounts=True)
    pki = demo_pki(config, clock())
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(PKIServer(pki))
        except OSError as exc:
            raise UsageError(f"the demo PKI's services cannot listen on {pki.base_url} ({exc.strerror}); stop what "
                             "uses that port and run the demo again") from None
        publish = demo_accounting_system(config, ledger_as_of(ledger, DEMO_START), stack)
        demo_mail_server(config, stack)
        store = Store.open(config.database_url())
        stack.callback(store.close)
        services = services_for(config, store, SystemClock())
        stack.callback(services.close)
        last = store.last_as_of()
        first = max(DEMO_START, last) if last else DEMO_START
        end = DEMO_START + timedelta(days=days - 1)
        ran: list[date] = []
        day = first
        while day <= end:
            publish(ledger_as_of(ledger, day))
            report = tick(services, day, clock())
            ran.append(day)
            if on_day:
                on_day(day, report)
            day += timedelta(days=1)
        result = DemoResult(workdir, config, ran, summarize(store))
        last_day = store.last_as_of()
        if last_day is not None:
            result.report, result.bi, result.verify = outputs(config, store, last_day)
        return result


def demo_accounting_system(config: Config, first: Ledger, stack: contextlib.ExitStack) -> Callable[[Ledger], None]:
    """Start the demo accounting system where the config's connector expects it; return how to publish a day.

    A ``rest`` connector: demo.erp serves the ledger on the connector's loopback host and port, with the user of its
    Basic auth and a password generated into its password file on the first run. A ``file`` connector: the ledger is
    written as CSV into its folder, as an accounting system's nightly export would be.
    """
    import secrets
    from urllib.parse import urlsplit

    connector = config.settings.connectors[0]
    if connector.kind == "file":
        folder = config.resolve(connector.path)
        return lambda ledger: write_ledger_csv(ledger, folder)
    basic = connector.auth.basic if connector.kind == "rest" and connector.auth else None
    url = urlsplit(connector.base_url)
    if basic is None or basic.password_file is None or url.hostname not in ("127.0.0.1", "localhost"):
        raise UsageError("the demo serves its accounting system to a rest connector on 127.0.0.1 with auth.basic "
                         "and a password_file (see the repository's schedules.yaml)")
    password_file = config.resolve(basic.password_file)
    if not password_file.exists():
        password_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(18) + "\n")
    password = password_file.read_text(encoding="utf-8").strip()

    from demo.erp import create_app, serve

    app = create_app(first, username=basic.username, password=password)
    try:
        stack.enter_context(serve(app, url.hostname, url.port or 80))
    except OSError as exc:
        raise UsageError(f"the demo accounting system cannot listen on {url.hostname}:{url.port} ({exc.strerror}); "
                         "stop what uses that port and run the demo again") from None
    return app.state.erp.set_ledger


def demo_mail_server(config: Config, stack: contextlib.ExitStack) -> Path | None:
    """Receive the robots' e-mail on the config's loopback SMTP port into a Maildir (var/mail), like a mail server.

    Only for a plain (security: none) server on 127.0.0.1; any other e-mail set-up is left alone.
    """
    email = config.settings.email
    if email is None or email.smtp.host not in ("127.0.0.1", "localhost") or email.smtp.security != "none":
        return None
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    maildir = config.resolve(Path("var/mail"))
    maildir.parent.mkdir(parents=True, exist_ok=True)
    controller = Controller(Mailbox(maildir), hostname=email.smtp.host, port=email.smtp.port)
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:
        raise UsageError(f"the demo mail server cannot listen on {email.smtp.host}:{email.smtp.port} ({exc}); "
                         "stop what uses that port and run the demo again") from None
    stack.callback(controller.stop)
    return maildir


def outputs(config: Config, store: Store, as_of: date) -> tuple[Path, Path, Any]:
    """The report and the BI export of ``as_of``, and a full check of the archive (signatures included)."""
    from archive.ops import verify_archive
    from archive.verify import signature_checker
    from bi.export import export_bi
    from bi.inputs import load_inputs
    from bi.report import write_report
    from signing.keys import load_cert_files

    report = write_report(load_inputs(config, store, as_of), config, config.resolve(Path("var/report.pdf")))
    bi = config.resolve(Path("var/bi"))
    export_bi(config, store, bi, as_of)
    roots = load_cert_files(config.settings.signing.trust_roots, config.base_dir, "signing.trust_roots")
    check = verify_archive(config.archive_dir, store, signatures=signature_checker(roots, online=True))
    return report, bi, check
