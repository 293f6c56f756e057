#!/usr/bin/env bash
# infra/sam/image.sh [ARCH]: builds the Lambda emulation image
# (Dockerfile.emulation) in the Docker daemon that answers (DOCKER_HOST),
# for ARCH (x86_64 or arm64; this machine's by default), and tags it with
# the name SAM looks for, so that `sam local invoke|start-api|start-lambda
# --skip-pull-image` runs the functions in it without public.ecr.aws.
# make sam-image runs it; api.sh (and so the sandbox) too.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. "$root/infra/sam/arch.sh"
arch=${1:-$arch}
tag=public.ecr.aws/lambda/provided:al2023-rapid-$arch
[ -x .cache/venv/bin/sam ] || infra/sam-check.sh >&2
docker info >/dev/null 2>&1 || { echo "image.sh needs a Docker daemon, and none answers (DOCKER_HOST=${DOCKER_HOST:-default})" >&2; exit 1; }
rie=$(ls .cache/venv/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-"$arch" 2>/dev/null | head -1)
[ -n "$rie" ] || { echo "the SAM CLI in .cache/venv ships no emulator for $arch" >&2; exit 1; }
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/empty"
cp "$rie" "$context/aws-lambda-rie"
cp infra/sam/Dockerfile.emulation "$context/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$context" >/dev/null
echo "$tag"
