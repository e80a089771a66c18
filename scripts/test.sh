#!/usr/bin/env bash
# The whole test suite: typecheck (build), lint, unit and integration tests, then the
# end-to-end lab tests (real keepalived/nginx/haproxy in network namespaces; root only).
set -euo pipefail
cd "$(dirname "$0")/.."

# On a fresh machine: system packages (as root; otherwise the lab tests skip) and npm packages.
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; fi
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npm run build
npm run lint

# Only *.test.js files are tests; helpers compiled next to them are not.
mapfile -t unit < <(find packages/*/dist/test test/dist/integration -name '*.test.js' 2>/dev/null | sort)
node --test --test-concurrency=2 "${unit[@]}"

mapfile -t e2e < <(find test/dist/e2e -name '*.test.js' 2>/dev/null | sort)
if [ "${#e2e[@]}" -gt 0 ]; then
  node --test --test-concurrency=1 "${e2e[@]}"
fi
