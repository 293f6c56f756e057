#!/usr/bin/env bash
# Installs, pinned, the official clients of other languages that the tests
# drive against the service (the AWS CLI, written in Python on botocore) into
# a project-local virtual environment, .cache/clients, on first use. Kept
# apart from the SAM CLI's environment so that neither pins the other's
# botocore. Prints the environment's bin directory.
set -euo pipefail
cd "$(dirname "$0")/.."

AWSCLI_VERSION=1.46.3
venv=.cache/clients
stamp="$venv/.installed-awscli-$AWSCLI_VERSION"

if [ ! -f "$stamp" ]; then
  echo "installing the AWS CLI $AWSCLI_VERSION into $venv (first run, about 30 s)..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "awscli==$AWSCLI_VERSION" >&2
  touch "$stamp"
fi
echo "$(pwd)/$venv/bin"
