#!/usr/bin/env bash
# Builds a self-contained lbha release into dist-pkg/ (`npm run package`): the Debian packages
# lbha-agent, lbha-coordinator and lbha (the CLI), the release tarball with its own Node.js
# runtime, the platform-independent tarball, and SHA256SUMS over all of them. Each package
# carries the Node.js runtime it runs on, so a Debian 12 node needs no Node.js (its own nodejs
# is 18, too old). docs/design/packaging.md says why a bundled runtime and not a single
# executable. Packing is offline: the runtime is the build machine's node, the dependencies
# are the checkout's node_modules as package-lock.json lists them.
#
#   deploy/package.sh [--out DIR] [--version VERSION] [--runtime NODE] [--no-build]
#
#   --out DIR          where to write (default: dist-pkg/ in the checkout; emptied first)
#   --version VERSION  release version (default: the version in package.json)
#   --runtime NODE     the Node.js binary to bundle (default: `node` on PATH); must be >= 20.11
#                      and linked only against libc, libm, libstdc++ and libgcc_s
#   --no-build         do not run `npm run build` first
set -euo pipefail

usage() { sed -n '2,17s/^# \{0,1\}//p' "$0"; }
die() { echo "package: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/dist-pkg
version=
runtime=
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift ;;
    --out=*) out=${1#*=} ;;
    --version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift ;;
    --version=*) version=${1#*=} ;;
    --runtime) [ $# -ge 2 ] || die "--runtime needs a node binary"; runtime=$2; shift ;;
    --runtime=*) runtime=${1#*=} ;;
    --no-build) build=0 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

for tool in dpkg-deb sha256sum gzip ldd; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian packages dpkg, coreutils, gzip, libc-bin)"
done
cd "$repo"
[ -n "$version" ] || version=$(node -p 'require("./package.json").version')
# Debian versions: digits first, then letters, digits and . + ~ (no -: these are native packages).
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "version ${version@Q}: must start with a digit and hold only letters, digits and . + ~"

[ -n "$runtime" ] || runtime=$(command -v node) || die "no node on PATH: pass --runtime NODE"
runtime=$(readlink -f "$runtime")
node_version=$("$runtime" -p 'process.versions.node') || die "$runtime does not run"
"$runtime" -e '
  const [maj, min] = process.versions.node.split(".").map(Number);
  process.exit(maj > 20 || (maj === 20 && min >= 11) ? 0 : 1)' || die "$runtime is Node.js $node_version; lbha needs >= 20.11"
# A runtime that needs a shared libnode or libuv (as Debian's own nodejs does) would not run on
# a node without those; the packages depend only on what every Debian system has.
unexpected=$(ldd "$runtime" | awk '$1 !~ /^(linux-vdso|\/lib64\/ld-linux|libc\.|libm\.|libdl\.|libpthread\.|libstdc\+\+\.|libgcc_s\.|librt\.)/ { print $1 }')
[ -z "$unexpected" ] || die "$runtime links against $(echo $unexpected): bundle a Node.js build linked only against libc, libm, libstdc++ and libgcc_s"

arch=$(dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null || dpkg --print-architecture)
if [ "$build" -eq 1 ]; then npm run build >&2; fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The reproducible timestamp of everything: the last commit's time (or SOURCE_DATE_EPOCH).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)

# 1. The tarballs: platform independent (needs Node.js on the target) and self-contained.
bash deploy/pack.sh --out "$out" --version "$version" >/dev/null
release=$(bash deploy/pack.sh --out "$out" --version "$version" --runtime "$runtime")
tar -C "$stage" -xzf "$release"
tree=$stage/lbha-$version
lib=$tree/lib

# 2. Man pages and completions, from the programs' own definitions.
"$lib/runtime/node" deploy/lib/gen-docs.mjs "$lib" "$stage/gen" "$version" "$date"

# 3. The Debian packages.
install_file() { # MODE SRC DST
  mkdir -p "$(dirname "$3")"
  cp "$2" "$3"
  chmod "$1" "$3"
}
man_page() { # ROOT PAGE
  local section=${2##*.}
  mkdir -p "$1/usr/share/man/man$section"
  gzip -9n < "$stage/gen/man/$2" > "$1/usr/share/man/man$section/$2.gz"
  chmod 0644 "$1/usr/share/man/man$section/$2.gz"
}
wrapper() { # ROOT PKG NAME ENTRY [NODE-FLAGS] [ENVIRONMENT]
  mkdir -p "$1/usr/bin"
  cat > "$1/usr/bin/$3" <<EOF
#!/bin/sh
# $3 ($2 $version): the release's own Node.js runs the program; the system's node is not used.
${6:+export $6
}exec /usr/lib/$2/runtime/node ${5:+$5 }/usr/lib/$2/$4 "\$@"
EOF
  chmod 0755 "$1/usr/bin/$3"
}
maintainer_script() { # ROOT PKG NAME UNIT STATE USER-SNIPPET DELUSER
  printf '%s\n' "$6" > "$stage/snippet"
  sed -e "s|@PKG@|$2|g" -e "s|@UNIT@|$4|g" -e "s|@STATE@|$5|g" -e "s|@DELUSER@|$7|g" \
    -e "/^@USER@\$/{r $stage/snippet" -e 'd;}' "deploy/debian/$3.in" > "$1/DEBIAN/$3"
  chmod 0755 "$1/DEBIAN/$3"
}
unit_file() { # ROOT PKG UNIT
  mkdir -p "$1/lib/systemd/system"
  sed "s#file:/usr/share/doc/lbha/#file:/usr/share/doc/$2/#" "deploy/systemd/$3" > "$1/lib/systemd/system/$3"
  chmod 0644 "$1/lib/systemd/system/$3"
}
# The program tree of one package: the runtime, the workspace packages it runs, and the
# production node_modules (links to workspace packages it does not ship are dropped).
program_tree() { # ROOT PKG WORKSPACE...
  local dst=$1/usr/lib/$2
  shift 2
  mkdir -p "$dst/packages"
  cp -a "$lib/runtime" "$lib/node_modules" "$lib/package.json" "$lib/package-lock.json" "$lib/VERSION" "$dst/"
  for ws in "$@"; do cp -a "$lib/packages/$ws" "$dst/packages/$ws"; done
  [ ! -d "$lib/proto" ] || cp -a "$lib/proto" "$dst/proto"
  find "$dst/node_modules/@lbha" -maxdepth 1 -type l | while read -r link; do
    [ -e "$link" ] || rm "$link"
  done
}
docs() { # ROOT PKG FILE...
  local d=$1/usr/share/doc/$2
  shift 2
  mkdir -p "$d"
  install_file 0644 deploy/debian/copyright "$d/copyright"
  printf '%s (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- lbha <lbha@localhost>  %s\n' \
    "${d##*/}" "$version" "$version" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n > "$d/changelog.gz"
  for f in "$@"; do install_file 0644 "$f" "$d/$(basename "$f")"; done
}
control() { # ROOT PKG DEPENDS RECOMMENDS DESCRIPTION...
  local root=$1 pkg=$2 depends=$3 recommends=$4
  shift 4
  mkdir -p "$root/DEBIAN"
  {
    echo "Package: $pkg"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: lbha <lbha@localhost>"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    echo "Depends: $depends"
    [ -z "$recommends" ] || echo "Recommends: $recommends"
    echo "Section: net"
    echo "Priority: optional"
    echo "Description: $1"
    shift
    for line in "$@"; do echo " $line"; done
    echo " ."
    echo " Bundles Node.js $node_version: the system's Node.js is not used."
  } > "$root/DEBIAN/control"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' md5sum) > "$root/DEBIAN/md5sums"
}
build_deb() { # ROOT
  local pkg
  pkg=$(sed -n 's/^Package: //p' "$1/DEBIAN/control")
  find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zzstd -z9 --build "$1" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
  echo "$out/${pkg}_${version}_${arch}.deb"
}
runtime_deps='libc6 (>= 2.28), libgcc-s1, libstdc++6'
coordinator_user='  if ! getent passwd lbha >/dev/null; then
    systemd-sysusers lbha.conf 2>/dev/null || useradd --system --user-group --no-create-home --home-dir /var/lib/lbha --shell /usr/sbin/nologin --comment "lbha coordinator" lbha
  fi
  chgrp lbha /etc/lbha/coordinator.yaml /etc/lbha/tls
  chmod 0640 /etc/lbha/coordinator.yaml
  chmod 0750 /etc/lbha/tls'

# lbha-agent
r=$stage/deb/lbha-agent
program_tree "$r" lbha-agent shared agent
# The agent's V8 flags and malloc setting: packages/agent/src/node-flags.ts says why.
wrapper "$r" lbha-agent lbha-agent packages/agent/dist/bundle/lbha-agent.js "--max-semi-space-size=1 --lite-mode --single-threaded-gc --bytecode-old-age=1 --expose-gc --compact-on-every-full-gc" "MALLOC_MMAP_THRESHOLD_=131072"
unit_file "$r" lbha-agent lbha-agent.service
install_file 0640 deploy/examples/agent.yaml "$r/etc/lbha/agent.yaml"
mkdir -p "$r/etc/lbha/tls" && chmod 0750 "$r/etc/lbha/tls"
install_file 0644 deploy/systemd/lbha-agent.service.d/direct-supervisor.conf "$r/usr/share/lbha-agent/direct-supervisor.conf"
mkdir -p "$r/usr/share/lbha-agent" && cp -a deploy/examples "$r/usr/share/lbha-agent/examples"
man_page "$r" lbha-agent.8
docs "$r" lbha-agent packages/agent/README.md docs/install.md docs/operator-guide.md docs/migration.md docs/troubleshooting.md
control "$r" lbha-agent "$runtime_deps, systemd, keepalived (>= 1:2.2), nftables, iproute2" "nginx | haproxy" \
  "lbha agent: health checks and VIP failover for keepalived load balancers" \
  "Runs on every load-balancer node: checks nginx or haproxy, keepalived and the node," \
  "drives them through systemd, feeds keepalived's track files so VIPs fail over without" \
  "a reload, and streams the node's state to lbha-coordinator."
echo /etc/lbha/agent.yaml > "$r/DEBIAN/conffiles"
maintainer_script "$r" lbha-agent postinst lbha-agent.service agent '' ''
maintainer_script "$r" lbha-agent prerm lbha-agent.service agent '' ''
maintainer_script "$r" lbha-agent postrm lbha-agent.service agent '' ''
build_deb "$r"

# lbha-coordinator (and lbha-dev-ca, lbha-probe)
r=$stage/deb/lbha-coordinator
program_tree "$r" lbha-coordinator shared coordinator
# The coordinator's V8 flags and OpenSSL configuration: packages/coordinator/src/node-flags.ts says why.
wrapper "$r" lbha-coordinator lbha-coordinator packages/coordinator/dist/src/bin/lbha-coordinator.js "--heap-growing-percent=50 --v8-pool-size=1 --openssl-config=/usr/lib/lbha-coordinator/packages/coordinator/openssl.cnf"
wrapper "$r" lbha-coordinator lbha-dev-ca packages/coordinator/dist/src/bin/lbha-dev-ca.js
wrapper "$r" lbha-coordinator lbha-probe packages/coordinator/dist/src/bin/lbha-probe.js
unit_file "$r" lbha-coordinator lbha-coordinator.service
install_file 0640 deploy/examples/coordinator.yaml "$r/etc/lbha/coordinator.yaml"
mkdir -p "$r/etc/lbha/tls" && chmod 0750 "$r/etc/lbha/tls"
install_file 0644 deploy/debian/sysusers.conf "$r/usr/lib/sysusers.d/lbha.conf"
mkdir -p "$r/usr/share/lbha-coordinator"
cp -a deploy/examples deploy/prometheus deploy/grafana "$r/usr/share/lbha-coordinator/"
man_page "$r" lbha-coordinator.8
docs "$r" lbha-coordinator packages/coordinator/README.md docs/install.md docs/operator-guide.md docs/api.md docs/troubleshooting.md
# openssl: lbha-dev-ca makes its certificates with it.
control "$r" lbha-coordinator "$runtime_deps, systemd, passwd, openssl" "" \
  "lbha coordinator: VIP placement and operations for keepalived load balancers" \
  "Computes where each VIP should live, pushes it to the lbha agents, detects divergence" \
  "and split brain, runs drains and rolling restarts, and serves the operator API," \
  "Prometheus metrics and an event log with webhooks. Includes lbha-dev-ca."
echo /etc/lbha/coordinator.yaml > "$r/DEBIAN/conffiles"
maintainer_script "$r" lbha-coordinator postinst lbha-coordinator.service coordinator "$coordinator_user" ''
maintainer_script "$r" lbha-coordinator prerm lbha-coordinator.service coordinator '' ''
maintainer_script "$r" lbha-coordinator postrm lbha-coordinator.service coordinator '' yes
build_deb "$r"

# lbha (the CLI)
r=$stage/deb/lbha
program_tree "$r" lbha shared coordinator cli
wrapper "$r" lbha lbha packages/cli/dist/src/bin/lbha.js
install_file 0644 "$stage/gen/completions/lbha.bash" "$r/usr/share/bash-completion/completions/lbha"
install_file 0644 "$stage/gen/completions/_lbha" "$r/usr/share/zsh/vendor-completions/_lbha"
man_page "$r" lbha.1
docs "$r" lbha docs/operator-guide.md
control "$r" lbha "$runtime_deps" "bash-completion" \
  "lbha: the operator CLI of lbha load-balancer clusters" \
  "Shows nodes and VIPs, drains, restarts and rolling-restarts services, follows the" \
  "event log, and validates (offline) and applies the cluster spec."
build_deb "$r"

(cd "$out" && sha256sum -- *.deb *.tar.gz > SHA256SUMS)
echo "$out/SHA256SUMS"
