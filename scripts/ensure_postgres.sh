#!/usr/bin/env bash
# The store's tests run against the real PostgreSQL on 127.0.0.1:5432 (user postgres, database test).
# Start the local cluster when it is down; fail loudly when it cannot be had (the tests never skip it).
set -euo pipefail
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "ensure_postgres: starting the local PostgreSQL cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done
fi
echo "ensure_postgres: PostgreSQL is not reachable at 127.0.0.1:5432; the store tests need it" >&2
exit 1
