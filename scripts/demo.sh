#!/usr/bin/env bash
# npm run demo [-- --once]: the seed's two-node nginx cluster under lbha, in network namespaces on
# this machine. Installs what it needs on a fresh Debian machine, builds, then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root: it creates network namespaces and veth pairs and runs keepalived and nginx in them." >&2
  echo "      run it as root, e.g.: sudo npm run demo" >&2
  exit 1
fi

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  echo "demo: needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

echo "demo: checking system packages (keepalived, nginx, haproxy, iproute2) ..."
bash scripts/install-deps.sh
if [ ! -d node_modules ]; then
  echo "demo: installing npm packages ..."
  npm ci --no-audit --no-fund
fi
echo "demo: building ..."
npm run build --silent

exec node test/dist/lab/demo.js "$@"
