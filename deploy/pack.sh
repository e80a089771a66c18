#!/usr/bin/env bash
# Packs an lbha release: lbha-VERSION.tar.gz holding the compiled packages with their
# production node_modules, proto/, the systemd units, the example configs, the docs and
# install.sh / uninstall.sh. The tarball is platform independent (no native modules); the
# target needs Node.js >= 20.11. Packing is offline: dependencies are copied from this
# checkout's node_modules as listed by package-lock.json.
#
#   deploy/pack.sh [--build] [--out DIR] [--version VERSION] [--runtime NODE]
#
#   --build            run `npm run build` first (otherwise the packages must already be built)
#   --out DIR          where to write the tarball (default: the current directory)
#   --version VERSION  release version (default: the version in package.json)
#   --runtime NODE     bundle this Node.js binary as lib/runtime/node: a self-contained release
#                      (lbha-VERSION-linux-ARCH.tar.gz) that needs no Node.js on the target
#
# Prints the tarball's path on stdout.
set -euo pipefail

usage() { sed -n '2,17s/^# \{0,1\}//p' "$0"; }
die() { echo "pack: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$PWD
build=0
version=
runtime=

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=1 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift ;;
    --out=*) out=${1#*=} ;;
    --version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift ;;
    --version=*) version=${1#*=} ;;
    --runtime) [ $# -ge 2 ] || die "--runtime needs a node binary"; runtime=$2; shift ;;
    --runtime=*) runtime=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

cd "$repo"
[ -n "$version" ] || version=$(node -p 'require("./package.json").version')
case "$version" in
  *[!A-Za-z0-9.+~-]*|'') die "version ${version@Q} may only contain letters, digits and . + ~ -" ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ "$build" -eq 1 ]; then npm run build >&2; fi

packages=(shared agent coordinator cli)
for bin in agent/dist/bundle/lbha-agent.js coordinator/dist/src/bin/lbha-coordinator.js cli/dist/src/bin/lbha.js; do
  [ -f "packages/$bin" ] || die "packages/$bin is missing: build first (npm run build) or pass --build"
done
[ -d node_modules ] || die "node_modules is missing: run npm ci first"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
name=lbha-$version
top=$stage/$name
lib=$top/lib
mkdir -p "$lib/packages"

# The runtime tree mirrors the repository, so the packages resolve each other through
# node_modules/@lbha/* and the coordinator finds proto/ above its modules.
cp package.json package-lock.json "$lib/"
for pkg in "${packages[@]}"; do
  dst=$lib/packages/$pkg
  mkdir -p "$dst/dist"
  cp "packages/$pkg/package.json" "$dst/"
  # Compiled JavaScript only: no tests, declarations, source maps or build info, except the
  # agent bundle's map, which turns its stack traces back into source lines.
  (cd "packages/$pkg/dist" && find . -path ./test -prune -o -type f \( -name '*.js' -o -path ./bundle/lbha-agent.js.map \) -print) |
    while IFS= read -r f; do
      mkdir -p "$dst/dist/$(dirname "$f")"
      cp "packages/$pkg/dist/$f" "$dst/dist/$f"
    done
  # The coordinator's web console: plain files served as they are.
  if [ -d "packages/$pkg/ui" ]; then cp -a "packages/$pkg/ui" "$dst/ui"; fi
  # The coordinator's OpenSSL configuration (node --openssl-config, from its wrappers).
  if [ -f "packages/$pkg/openssl.cnf" ]; then cp "packages/$pkg/openssl.cnf" "$dst/"; fi
done
(cd proto && find . -type f -name '*.proto') | while IFS= read -r f; do
  mkdir -p "$lib/proto/$(dirname "$f")"
  cp "proto/$f" "$lib/proto/$f"
done

# The release version goes into every package.json, so `lbha status` reports the agents'
# release version.
node -e '
  const fs = require("node:fs");
  const [version, ...files] = process.argv.slice(1);
  for (const f of files) {
    const pkg = JSON.parse(fs.readFileSync(f, "utf8"));
    pkg.version = version;
    fs.writeFileSync(f, JSON.stringify(pkg, null, 2) + "\n");
  }' "$version" "$lib/package.json" "$lib"/packages/*/package.json

node deploy/lib/runtime-deps.mjs . | while read -r kind path target; do
  case "$kind" in
    copy) mkdir -p "$lib/$(dirname "$path")"; cp -a "$path" "$lib/$path" ;;
    link) mkdir -p "$lib/$(dirname "$path")"; ln -s "$target" "$lib/$path" ;;
  esac
done
# Binaries in node_modules/.bin of copied packages are never used by lbha.
rm -rf "$lib/node_modules/.bin"
echo "$version" > "$lib/VERSION"
name_suffix=
if [ -n "$runtime" ]; then
  [ -x "$runtime" ] || die "--runtime $runtime is not an executable"
  mkdir -p "$lib/runtime"
  cp "$runtime" "$lib/runtime/node"
  chmod 0755 "$lib/runtime/node"
  "$lib/runtime/node" --version | sed 's/^v//' > "$lib/runtime/NODE_VERSION"
  name_suffix=-linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
fi

cp deploy/install.sh deploy/uninstall.sh "$top/"
chmod 0755 "$top/install.sh" "$top/uninstall.sh"
cp -a deploy/systemd "$top/systemd"
if [ -d deploy/examples ]; then cp -a deploy/examples "$top/examples"; fi
mkdir -p "$top/docs"
for doc in README.md docs/install.md docs/operator-guide.md docs/migration.md docs/troubleshooting.md docs/api.md; do
  if [ -f "$doc" ]; then cp "$doc" "$top/docs/"; fi
done
for d in deploy/prometheus deploy/grafana; do
  if [ -d "$d" ]; then cp -a "$d" "$top/$(basename "$d")"; fi
done

# Reproducible: fixed order, owner and timestamps (the last commit's time when there is one).
mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
tarball=$out/$name$name_suffix.tar.gz
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -cf - "$name" |
  gzip -n -6 > "$tarball.tmp"
mv "$tarball.tmp" "$tarball"
echo "$tarball"
