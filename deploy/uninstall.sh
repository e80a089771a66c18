#!/usr/bin/env bash
# Removes an lbha installation made by install.sh. Idempotent. Configuration (/etc/lbha),
# state (/var/lib/lbha) and the lbha user stay unless --purge is given. keepalived, nginx and
# haproxy are not touched: whatever VIPs they hold stay where they are.
#
#   uninstall.sh [--prefix DIR] [--sysconfdir DIR] [--unitdir DIR] [--destdir DIR] [--purge]
#
# Use the same --prefix/--sysconfdir/--unitdir/--destdir as for install.sh.
set -euo pipefail

usage() { sed -n '2,9s/^# \{0,1\}//p' "$0"; }
die() { echo "uninstall: $*" >&2; exit 1; }
say() { echo "uninstall: $*"; }

prefix=/usr
sysconfdir=/etc
unitdir=
destdir=${DESTDIR:-}
purge=0

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix|--sysconfdir|--unitdir|--destdir)
      [ $# -ge 2 ] || die "$1 needs a value"
      opt=${1#--}; val=$2; shift ;;
    --prefix=*|--sysconfdir=*|--unitdir=*|--destdir=*)
      opt=${1%%=*}; opt=${opt#--}; val=${1#*=} ;;
    --purge) purge=1; shift; continue ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  case "$opt" in
    prefix) prefix=$val ;;
    sysconfdir) sysconfdir=$val ;;
    unitdir) unitdir=$val ;;
    destdir) destdir=$val ;;
  esac
  shift
done

for p in "$prefix" "$sysconfdir" ${unitdir:+"$unitdir"}; do
  case "$p" in /*) ;; *) die "${p@Q} must be an absolute path" ;; esac
done
prefix=${prefix%/}; sysconfdir=${sysconfdir%/}
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system
if [ -n "$destdir" ]; then
  [ -d "$destdir" ] || { say "nothing to do: $destdir does not exist"; exit 0; }
  destdir=$(cd "$destdir" && pwd)
fi
if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then die "run as root (or use --destdir DIR)"; fi
D=$destdir

units=(lbha-agent.service lbha-coordinator.service)
if [ -z "$D" ] && [ -d /run/systemd/system ]; then
  # Stopping the agent leaves keepalived and the proxies running with their last state.
  systemctl disable --now "${units[@]}" 2>/dev/null || true
fi

for unit in "${units[@]}"; do rm -f "$D$unitdir/$unit"; done
for bin in lbha lbha-agent lbha-coordinator; do rm -f "$D$prefix/bin/$bin"; done
rm -rf "$D$prefix/lib/lbha" "$D$prefix/lib/lbha.new" "$D$prefix/lib/lbha.old" \
  "$D$prefix/share/lbha" "$D$prefix/share/lbha.new" "$D$prefix/share/doc/lbha"

if [ "$purge" -eq 1 ]; then
  rm -rf "$D$sysconfdir/lbha" "$D/var/lib/lbha" "$D/run/lbha"
  if [ -n "$D" ]; then
    if [ -f "$D/etc/passwd" ] && grep -q '^lbha:' "$D/etc/passwd"; then userdel --root "$D" lbha; fi
  elif getent passwd lbha >/dev/null; then
    userdel lbha
  fi
  say "purged configuration, state and the lbha user"
else
  say "kept $sysconfdir/lbha and /var/lib/lbha (remove them with --purge)"
fi

if [ -z "$D" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
say "lbha removed"
