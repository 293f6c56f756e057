#!/usr/bin/env bash
# Checks template.yaml with the tools its users deploy with: sam validate
# --lint, cfn-lint, and sam build (which calls the Makefile's
# build-<LogicalId> targets). They are installed, pinned, into a
# project-local virtual environment (.cache/venv) on first use; nothing is
# installed globally. No AWS account or credentials are needed.
set -euo pipefail
cd "$(dirname "$0")/.."

SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
venv=.cache/venv
stamp="$venv/.installed-sam-$SAM_CLI_VERSION-cfn-lint-$CFN_LINT_VERSION"

if [ ! -f "$stamp" ]; then
  echo "installing aws-sam-cli $SAM_CLI_VERSION and cfn-lint $CFN_LINT_VERSION into $venv (first run, about 2 min)..."
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  touch "$stamp"
fi

export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
echo "== sam validate --lint"
"$venv/bin/sam" validate --lint --template template.yaml
echo "== cfn-lint"
"$venv/bin/cfn-lint" template.yaml
echo "== sam build"
"$venv/bin/sam" build --build-in-source --template template.yaml --build-dir .cache/sam-build >.cache/sam-build.log 2>&1 ||
  { cat .cache/sam-build.log; exit 1; }
for f in .cache/sam-build/*/bootstrap; do
  printf '%s %s bytes\n' "$f" "$(wc -c <"$f")"
done
