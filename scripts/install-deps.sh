#!/usr/bin/env bash
# Installs the system packages lbha's lab, tests and demo need (Debian). Idempotent: only
# missing packages are installed. npm packages come from `npm ci`.
set -euo pipefail

# mmdebstrap and systemd-container: the end-to-end tier on systemd-booted nodes (Debian 12 root
# file systems booted with systemd-nspawn); zsh: the completion script's syntax check; wrk and
# stress-ng: the failover benchmarks' kept-alive client and CPU stress; chromium: the web
# console's browser test (headless, driven over the DevTools protocol).
PACKAGES=(keepalived nginx-light haproxy nftables iproute2 procps psmisc curl openssl prometheus etcd-server systemd
  mmdebstrap systemd-container zsh wrk stress-ng chromium)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting on the host.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
