"""Daemons as real processes (``run_robots.py --log-json run``) with their JSON log in a file, their HTTP pages,
and the signals ops send them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.worlds import REPO


class DaemonProc:
    def __init__(self, root: Path, config: Path, port: int, env: dict[str, str] | None = None, name: str = "d"):
        self.root, self.config, self.port = root, config, port
        self.log_path = root / f"{name}.log"
        self._log = self.log_path.open("w", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "run_robots.py"), "--config", str(config),
                                      "--log-json", "run"], stdout=subprocess.DEVNULL, stderr=self._log,
                                     cwd=root, env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        """(status, body) of one page; (0, reason) when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            return 0, str(e)

    def health(self) -> dict[str, Any] | None:
        code, body = self.get("/healthz", timeout=1)
        return json.loads(body) if code == 200 else None

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == event]

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def ensure_gone(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.1,
             procs: tuple[DaemonProc, ...] = ()) -> Any:
    """Poll ``check`` until it returns something true; fail with the daemons' log tails when it does not."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        for p in procs:
            if p.proc.poll() is not None:
                raise AssertionError(f"{what}: daemon {p.pid} exited {p.proc.returncode}:\n{tail(p)}")
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s\n" + "\n".join(tail(p) for p in procs))


def tail(p: DaemonProc, n: int = 30) -> str:
    lines = p.log_path.read_text(encoding="utf-8").splitlines()
    return f"--- {p.log_path.name} (pid {p.pid}) ---\n" + "\n".join(lines[-n:])
