#!/bin/sh
# in-cgroups.sh DIR... -- COMMAND [ARG]...
# Moves itself into each cgroup directory given, then runs COMMAND. A container started this way
# gets a cgroup subtree of its own, so its systemd does not share (and kill in) the caller's
# cgroups with the other containers of the run.
set -eu
while [ "$1" != "--" ]; do
  echo "$$" > "$1/cgroup.procs"
  shift
done
shift
exec "$@"
