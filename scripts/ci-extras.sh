#!/usr/bin/env bash
# CI extras, run by .ci/run before the suites: the npm tracking SDKs (scripts/sdk-clients.sh) and Debian packages
# for tests that run real programs: Chromium for the browser tests (the staff console, tests/admin/test_browser.py;
# the e-mailed links' pages, tests/accounts/test_pages_browser.py; analytics.js, tests/cdp/test_segment_browser.py;
# fixture in tests/browser.py), PgBouncer for the transaction-pooling test (tests/ops/test_pgbouncer.py) and RabbitMQ
# for the broker tests (tests/faults/test_rabbitmq.py starts a private node; the machine's broker on 5672 is optional).
# Quiet, idempotent, and never fails CI: without npm, apt (or root) those tests skip themselves with a message instead.
set -u

# The npm tracking SDKs of the Segment-compatibility tests (idempotent, under var/npm).
"$(dirname "$0")/sdk-clients.sh"

missing=()
{ [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; } || missing+=(chromium chromium-driver)
{ command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; } || missing+=(pgbouncer)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-extras: apt-get not available; tests needing ${missing[*]} will be skipped"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ci-extras: not root and no sudo; tests needing ${missing[*]} will be skipped"
    exit 0
  fi
fi
echo "ci-extras: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
timeout 600 $SUDO apt-get update -qq >/dev/null 2>&1 || true
if ! timeout 1200 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  echo "ci-extras: could not install ${missing[*]}; the tests needing them will be skipped"
fi
exit 0
