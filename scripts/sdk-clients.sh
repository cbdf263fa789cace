#!/usr/bin/env bash
# The npm tracking SDKs the Segment-compatibility tests send with (tests/cdp/test_segment_sdks.py), pinned, installed
# once under var/npm (git-ignored). Idempotent: does nothing when the pinned versions are already there. Exits 0
# without npm (the JS tests then skip, saying why); CI has npm.
set -u
cd "$(dirname "$0")/.."
PACKAGES="@segment/analytics-node@3.1.0 @segment/analytics-next@1.84.3"
STAMP="var/npm/.installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PACKAGES" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "sdk-clients: npm not available; the JavaScript SDK tests will be skipped"
  exit 0
fi
mkdir -p var/npm
# shellcheck disable=SC2086
if timeout 600 npm install --no-audit --no-fund --loglevel=error --prefix var/npm $PACKAGES; then
  echo "$PACKAGES" > "$STAMP"
else
  echo "sdk-clients: npm install failed; the JavaScript SDK tests will be skipped"
fi
exit 0
