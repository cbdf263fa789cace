#!/usr/bin/env bash
# Serves the API with a Celery worker and beat. Without a broker, tasks run in-process and beat
# executes periodic jobs itself (eager mode), so the scheduler works with no Redis at all.
set -euo pipefail
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
export FRONTEND_URL=${FRONTEND_URL:-http://127.0.0.1:${PORT}}  # links in e-mails point at this server
BIN=$(dirname "$PY")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -n "${CELERY_BROKER_URL:-${REDIS_URL:-}}" ]; then
  "$BIN/celery" -A stratum worker --loglevel=INFO --concurrency=2 &
  pids+=($!)
fi
"$BIN/celery" -A stratum beat --loglevel=INFO --schedule=var/celerybeat-schedule &
pids+=($!)

echo "Stratum on http://127.0.0.1:${PORT}  (API docs: /docs, admin: /admin/, health: /health)"
case "${EMAIL_BACKEND:-}" in
  *filebased*) echo "E-mail is written to files under ${EMAIL_FILE_PATH:-var/mail}/ (one .log file per connection)";;
esac
if [ "${DEBUG:-1}" = "0" ]; then
  "$BIN/python" manage.py collectstatic --noinput >/dev/null
  "$BIN/gunicorn" stratum.wsgi:application --bind "127.0.0.1:${PORT}" --workers "${WEB_CONCURRENCY:-2}" &
else
  "$PY" manage.py runserver --noreload "127.0.0.1:${PORT}" &
fi
pids+=($!)
wait -n "${pids[@]}"
