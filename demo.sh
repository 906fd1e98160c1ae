#!/usr/bin/env bash
# The example course site in one command, on a fresh machine (Python 3.11+; SQLite):
#
#   bash demo.sh
#
# It creates .venv and installs adminflow with the site's dependencies, migrates
# db.sqlite3, creates the superuser "admin" with a new password (printed; run it
# again for another), loads the demo course, runs the roster sync with live output,
# then serves the admin at http://127.0.0.1:8000/admin/ with a task worker
# (manage.py db_worker) that executes the runs started there and sends the username
# reminders the runs queue (Admin > Reminders says how each went). Ctrl-C stops both;
# a run the worker is executing finishes first (Ctrl-C again to stop it now).
#
# Environment:
#   DEMO_VENV=DIR    use this virtualenv, adminflow already installed in it, instead
#                    of creating .venv and installing into it
#   DEMO_NO_SERVE=1  stop after the run (tests and CI)
#   DEMO_PORT=8000   the port the site is served on
#   EMAIL_URL        where the demo's emails go (see .env.example); by default they are
#                    written as files into demo-mail/ instead of flooding the terminal
set -euo pipefail
cd "$(dirname "$0")"

if [ -n "${DEMO_VENV:-}" ]; then
  python="$DEMO_VENV/bin/python"
else
  echo "== Installing adminflow and the example site into .venv"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q -e '.[demo]'
  python=.venv/bin/python
fi

# Relative to the project directory, where every process of the demo runs.
export EMAIL_URL="${EMAIL_URL:-filemail:///demo-mail}"

echo "== Migrating the database"
"$python" manage.py migrate --no-input -v0

password="$("$python" manage.py demo_admin --username admin)"
echo "== Superuser: admin, password: $password"

echo "== Loading the demo course"
"$python" manage.py load_demo

echo "== python manage.py runflow roster-sync"
"$python" manage.py runflow roster-sync

port="${DEMO_PORT:-8000}"
login="The admin: http://127.0.0.1:$port/admin/  login: admin  password: $password"
if [ "${DEMO_NO_SERVE:-0}" != 0 ]; then
  echo "== $login"
  echo "   (not served: DEMO_NO_SERVE is set; run 'bash demo.sh' without it to serve)"
  exit 0
fi

# No autoreload: a reloading worker's child would outlive a stopped parent.
"$python" manage.py db_worker --no-reload &
worker=$!
interrupted=
stop_worker() {
  # A Ctrl-C in the terminal reached the worker too; otherwise tell it to stop.
  [ -n "$interrupted" ] || kill -TERM "$worker" 2>/dev/null || true
  while kill -0 "$worker" 2>/dev/null; do wait "$worker" || true; done
}
trap stop_worker EXIT
trap 'interrupted=1' INT

echo "== $login"
echo "   Runs started there are executed by the worker. Ctrl-C stops the site and the worker."
"$python" manage.py runserver "127.0.0.1:$port" || [ -n "$interrupted" ]
