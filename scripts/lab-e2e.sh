#!/usr/bin/env bash
# The end-to-end lab tests alone (root): builds, then runs test/dist/e2e/*.test.js one file at a
# time (each file brings up its own lab). npm test runs the same files after the unit tests.
#   bash scripts/lab-e2e.sh [--keep]      --keep leaves each run's dir (configs, logs, probe records)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--keep" ]; then export LBHA_LAB_KEEP=1; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "lab-e2e: the lab needs root (network namespaces, veth pairs, daemons on port 80); the tests would only skip." >&2
  exit 1
fi
npm run build --silent
mapfile -t e2e < <(find test/dist/e2e -name '*.test.js' | sort)
node --test --test-concurrency=1 "${e2e[@]}"
