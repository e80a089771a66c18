#!/usr/bin/env bash
# Installs lbha from an extracted release tarball (made by deploy/pack.sh). Idempotent: run it
# again to repair or to upgrade; existing configuration in /etc/lbha is never overwritten.
#
#   ./install.sh [--prefix DIR] [--sysconfdir DIR] [--unitdir DIR] [--destdir DIR]
#                [--node PATH] [--no-user] [--restart]
#
#   --prefix DIR      programs, units and shared files under DIR (default /usr):
#                     DIR/lib/lbha, DIR/bin/lbha{,-agent,-coordinator}, DIR/share/lbha,
#                     DIR/share/doc/lbha
#   --sysconfdir DIR  configuration goes to DIR/lbha (default /etc)
#   --unitdir DIR     systemd units (default PREFIX/lib/systemd/system)
#   --destdir DIR     stage everything under DIR, as DESTDIR does for `make install`: paths
#                     written into the wrappers and units stay the final ones (also: DESTDIR=)
#   --node PATH       the Node.js the wrappers run (default: `node` from PATH at run time)
#   --no-user         do not create the `lbha` system user
#   --restart         restart the lbha units that are running (after an upgrade)
#
# The units are installed, not enabled: `systemctl enable --now lbha-agent` on LB nodes,
# `systemctl enable --now lbha-coordinator` on coordinator hosts.
set -euo pipefail

usage() { sed -n '2,24s/^# \{0,1\}//p' "$0"; }
die() { echo "install: $*" >&2; exit 1; }
say() { echo "install: $*"; }

prefix=/usr
sysconfdir=/etc
unitdir=
destdir=${DESTDIR:-}
node_bin=
create_user=1
restart=0

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix|--sysconfdir|--unitdir|--destdir|--node)
      [ $# -ge 2 ] || die "$1 needs a value"
      opt=${1#--}; val=$2; shift ;;
    --prefix=*|--sysconfdir=*|--unitdir=*|--destdir=*|--node=*)
      opt=${1%%=*}; opt=${opt#--}; val=${1#*=} ;;
    --no-user) create_user=0; shift; continue ;;
    --restart) restart=1; shift; continue ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  case "$opt" in
    prefix) prefix=$val ;;
    sysconfdir) sysconfdir=$val ;;
    unitdir) unitdir=$val ;;
    destdir) destdir=$val ;;
    node) node_bin=$val ;;
  esac
  shift
done

for p in "$prefix" "$sysconfdir" ${unitdir:+"$unitdir"}; do
  case "$p" in /*) ;; *) die "${p@Q} must be an absolute path" ;; esac
done
[ -z "$destdir" ] || destdir=$(mkdir -p "$destdir" && cd "$destdir" && pwd)
prefix=${prefix%/}; sysconfdir=${sysconfdir%/}
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system

src=$(cd "$(dirname "$0")" && pwd)
[ -f "$src/lib/VERSION" ] && [ -d "$src/lib/packages" ] ||
  die "run install.sh from an extracted release tarball (deploy/pack.sh makes one), not from the source tree"
version=$(cat "$src/lib/VERSION")

if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (or stage with --destdir DIR)"
fi

# Node.js: a self-contained release (deploy/package.sh) brings its own runtime in lib/runtime;
# otherwise the system's node, 20.11 being the oldest tested.
bundled=0
if [ -z "$node_bin" ] && [ -x "$src/lib/runtime/node" ]; then bundled=1; node_bin=$src/lib/runtime/node; fi
node_cmd=${node_bin:-node}
case "$node_cmd" in *[!A-Za-z0-9/._+-]*) die "--node ${node_cmd@Q}: only letters, digits and / . _ + - please" ;; esac
command -v "$node_cmd" >/dev/null 2>&1 || die "Node.js not found ($node_cmd): install Node.js >= 20.11 first, or pass --node PATH"
"$node_cmd" -e '
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj < 20 || (maj === 20 && min < 11)) {
    process.stderr.write(`install: Node.js ${process.versions.node} is too old: lbha needs >= 20.11\n`);
    process.exit(1);
  }' || exit 1

libdir=$prefix/lib/lbha
bindir=$prefix/bin
datadir=$prefix/share/lbha
docdir=$prefix/share/doc/lbha
confdir=$sysconfdir/lbha
D=$destdir

# --- the system user the coordinator runs as ----------------------------------------------
lbha_gid=
if [ "$create_user" -eq 1 ]; then
  if [ -n "$D" ]; then
    if [ -f "$D/etc/passwd" ] && [ -f "$D/etc/group" ]; then
      if ! grep -q '^lbha:' "$D/etc/passwd"; then
        useradd --root "$D" --system --user-group --no-create-home --home-dir /var/lib/lbha \
          --shell /usr/sbin/nologin --comment 'lbha coordinator' lbha 2>/dev/null ||
          die "useradd --root $D failed"
        say "created system user lbha in $D/etc/passwd"
      fi
      lbha_gid=$(awk -F: '$1 == "lbha" { print $3 }' "$D/etc/group")
    else
      say "no $D/etc/passwd: skipping the lbha user (create it on the target: useradd --system lbha)"
    fi
  else
    if ! getent passwd lbha >/dev/null; then
      useradd --system --user-group --no-create-home --home-dir /var/lib/lbha \
        --shell /usr/sbin/nologin --comment 'lbha coordinator' lbha
      say "created system user lbha"
    fi
    lbha_gid=$(getent group lbha | cut -d: -f3)
  fi
fi

# --- programs: swap the whole tree in one rename, so a running process never sees a mix -----
mkdir -p "$D$prefix/lib"
rm -rf "$D$libdir.new" "$D$libdir.old"
cp -a "$src/lib" "$D$libdir.new"
chmod -R u=rwX,go=rX "$D$libdir.new"
if [ -e "$D$libdir" ]; then mv "$D$libdir" "$D$libdir.old"; fi
mv "$D$libdir.new" "$D$libdir"
rm -rf "$D$libdir.old"

mkdir -p "$D$bindir"
write_wrapper() { # NAME ENTRY [NODE-FLAGS] [ENVIRONMENT]
  local tmp=$D$bindir/.$1.tmp runtime=$node_cmd
  # The bundled runtime is found next to the library, like the library next to this script.
  [ "$bundled" -eq 0 ] || runtime='${self%/*/*}/lib/lbha/runtime/node'
  cat > "$tmp" <<EOF
#!/bin/sh
# $1 (lbha $version), installed by install.sh: runs $2 with $([ "$bundled" -eq 1 ] && echo "the release's own Node.js" || echo "the system's Node.js (>= 20.11)").
# The library is found next to this script (../lib/lbha), so a staged install runs in place.
self=\$(readlink -f "\$0") || exit 1
${4:+export $4
}exec "\${LBHA_NODE:-$runtime}" ${3:+$3 }"\${self%/*/*}/lib/lbha/$2" "\$@"
EOF
  chmod 0755 "$tmp"
  mv "$tmp" "$D$bindir/$1"
}
write_wrapper lbha packages/cli/dist/src/bin/lbha.js
# The agent's V8 flags and malloc setting: packages/agent/src/node-flags.ts says why.
write_wrapper lbha-agent packages/agent/dist/bundle/lbha-agent.js "--max-semi-space-size=1 --lite-mode --single-threaded-gc --bytecode-old-age=1 --expose-gc --compact-on-every-full-gc" "MALLOC_MMAP_THRESHOLD_=131072"
# The coordinator's V8 flags and OpenSSL configuration: packages/coordinator/src/node-flags.ts says why.
write_wrapper lbha-coordinator packages/coordinator/dist/src/bin/lbha-coordinator.js "--heap-growing-percent=50 --v8-pool-size=1 \"--openssl-config=\${self%/*/*}/lib/lbha/packages/coordinator/openssl.cnf\""

# --- systemd units: the paths in them follow --prefix and --sysconfdir -----------------------
mkdir -p "$D$unitdir"
for unit in lbha-agent.service lbha-coordinator.service; do
  sed -e "s#/usr/bin/lbha#$bindir/lbha#g" \
      -e "s#file:/usr/share/doc/lbha#file:$docdir#g" \
      -e "s#/etc/lbha/#$confdir/#g" \
      "$src/systemd/$unit" > "$D$unitdir/.$unit.tmp"
  chmod 0644 "$D$unitdir/.$unit.tmp"
  mv "$D$unitdir/.$unit.tmp" "$D$unitdir/$unit"
done

# --- shared files: examples, the direct-supervisor drop-in, docs, uninstall.sh ---------------
rm -rf "$D$datadir.new"
mkdir -p "$D$datadir.new"
if [ -d "$src/examples" ]; then cp -a "$src/examples" "$D$datadir.new/examples"; fi
for extra in prometheus grafana; do
  if [ -d "$src/$extra" ]; then cp -a "$src/$extra" "$D$datadir.new/$extra"; fi
done
mkdir -p "$D$datadir.new/systemd"
cp "$src/systemd/lbha-agent.service.d/direct-supervisor.conf" "$D$datadir.new/systemd/"
cp "$src/uninstall.sh" "$D$datadir.new/uninstall.sh"
chmod -R u=rwX,go=rX "$D$datadir.new"
chmod 0755 "$D$datadir.new/uninstall.sh"
rm -rf "$D$datadir"
mv "$D$datadir.new" "$D$datadir"

rm -rf "$D$docdir"
mkdir -p "$D$docdir"
cp "$src"/docs/*.md "$D$docdir/" 2>/dev/null || true
chmod 0644 "$D$docdir"/* 2>/dev/null || true

# --- configuration: created once, never overwritten -----------------------------------------
mkdir -p "$D$confdir" "$D$confdir/tls"
chmod 0755 "$D$confdir"
chmod 0750 "$D$confdir/tls"
[ -z "$lbha_gid" ] || chgrp "$lbha_gid" "$D$confdir/tls"
for conf in agent.yaml coordinator.yaml; do
  if [ -e "$D$confdir/$conf" ]; then
    say "kept $confdir/$conf"
  elif [ -f "$src/examples/$conf" ]; then
    cp "$src/examples/$conf" "$D$confdir/$conf"
    chmod 0640 "$D$confdir/$conf"
    [ -z "$lbha_gid" ] || chgrp "$lbha_gid" "$D$confdir/$conf"
    say "wrote $confdir/$conf from the example: edit it before starting the service"
  fi
done

# --- tell systemd ------------------------------------------------------------------------------
if [ -z "$D" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$restart" -eq 1 ]; then
    # try-restart: only units that are running. keepalived and the proxies are other units,
    # so restarting the agent moves no VIP.
    systemctl try-restart lbha-coordinator.service lbha-agent.service
    say "restarted running lbha units"
  fi
elif [ "$restart" -eq 1 ]; then
  say "--restart ignored: systemd is not running here (or --destdir was given)"
fi

say "lbha $version installed: $bindir/lbha, $bindir/lbha-agent, $bindir/lbha-coordinator"
say "units in $unitdir; examples in $datadir/examples; configuration in $confdir"
