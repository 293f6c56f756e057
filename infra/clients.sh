#!/usr/bin/env bash
# Installs, pinned, the official clients of another language that the tests
# drive against the service -- boto3 and the AWS CLI (botocore), the Huawei
# Cloud Python SDK (huaweicloudsdkkms) -- and pytest, into a project-local
# virtual environment, .cache/clients, on first use. Kept apart from the SAM
# CLI's environment so that neither pins the other's botocore. Prints the
# environment's bin directory.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(awscli==1.46.3 boto3==1.44.5 huaweicloudsdkkms==3.1.219 pytest==9.2.0)
venv=.cache/clients
stamp="$venv/.installed-$(echo "${packages[*]}" | tr ' =' '_-')"

if [ ! -f "$stamp" ]; then
  echo "installing ${packages[*]} into $venv (first run, about 30 s)..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}" >&2
  touch "$stamp"
fi
echo "$(pwd)/$venv/bin"
