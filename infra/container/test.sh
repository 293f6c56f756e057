#!/usr/bin/env bash
# make image-test: builds the image (make image) and runs it under Docker
# the way a CI job would, driving a signed lifecycle through it
# (infra/container/image_test.go, build tag "image"). Uses the Docker daemon
# DOCKER_HOST (or the default socket) names if one answers; otherwise starts
# a private one with its state in a temporary folder outside the tree (root
# only; Debian's docker.io is installed with apt-get if missing), stopped,
# unmounted and removed on exit, whatever happened; without iptables or a
# bridge: the container
# shares the host's network (--network host) and listens on a free loopback
# port. Not part of make test: a Docker daemon needs root and a kernel and
# cgroups that a CI container often does not give.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "no Docker daemon answers (DOCKER_HOST=${DOCKER_HOST:-default}); start one, or run as root to let this script start its own" >&2
    exit 1
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing Debian's docker.io with apt-get (first run, about 1 min)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  # Outside the tree: the daemon's state holds mounts, sockets and device
  # files, which a copy of the tree (sam build) or rm -rf .cache trips on.
  state=$(mktemp -d "${TMPDIR:-/tmp}/keydeletion-docker.XXXXXX")
  export DOCKER_HOST="unix://$state/docker.sock"
  cleanup() {
    if [ -n "${dockerd_pid:-}" ]; then
      kill "$dockerd_pid" 2>/dev/null || true
      wait "$dockerd_pid" 2>/dev/null || true
    fi
    # Whatever the daemon left mounted under its state (overlay layers,
    # its exec root), deepest first, then the state itself.
    awk -v s="$state" '$5 == s || index($5, s "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$state"
  }
  trap cleanup EXIT
  echo "starting a private Docker daemon on $DOCKER_HOST..."
  dockerd --iptables=false --bridge=none --host "$DOCKER_HOST" --data-root "$state/root" \
    --exec-root "$state/exec" --pidfile "$state/docker.pid" >"$state/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      echo "the Docker daemon exited:" >&2
      tail -20 "$state/dockerd.log" >&2
      exit 1
    fi
    sleep 0.5
  done
fi

image=keydeletion-localserver:test
echo "== make image IMAGE=$image"
make -s image IMAGE="$image"
echo "== the image under Docker"
IMAGE="$image" go test -tags image -count=1 -v ./infra/container
