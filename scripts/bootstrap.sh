#!/usr/bin/env bash
# Everything a fresh machine needs for arbots: Debian packages (when root), the .venv and the package itself.
# Idempotent: it only installs what is missing. Called by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(fonts-dejavu-core fonts-noto-mono poppler-utils softhsm2 libnss3-tools chromium)
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  for p in "${DEBS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || echo "bootstrap: warning: Debian package $p is missing and we are not root; install it by hand" >&2
  done
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.arbots-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[demo,test,bench]"
  touch "$stamp"
fi
