# make run   start the service on the embedded store; flags in ARGS (make run ARGS=-h lists them)
# make test  every test: gofmt, vet, staticcheck, and go test with DynamoDB Local
# make clean-data  empty the embedded store (DATA_DIR, default ./data)
# make build the Lambda binaries, as sam build makes them, into bin/<function>/bootstrap
#
# sam build (BuildMethod: makefile) calls build-<LogicalId>, e.g. build-ScheduleFunction,
# with ARTIFACTS_DIR set; the function's code is functions/<lowercase LogicalId without "Function">.
# make image       the local server as an OCI image FROM scratch (IMAGE, default keydeletion-localserver:dev)
# make image-test  build it, run it under Docker and drive a signed lifecycle through it
# make sam-test    the official clients through sam local start-api, every function in a container,
#                  in a network namespace with a private Docker daemon (infra/sam/sandbox.sh; root)
# make sam-image   the Lambda emulation image sam local runs functions in, built here (no registry)
# make sam-api     sam local start-api on 127.0.0.1:3000 with DynamoDB Local behind it (Docker)
# make dynamodb-local  DynamoDB Local on port 8000 (every interface: it cannot bind one) with -sharedDb, for sam local invoke
# make bench the benchmarks whose figures the README reports
# make fuzz  open-ended fuzzing of every Fuzz target (FUZZTIME each, default 1m)

GO ?= go
FUNCTIONS := Schedule Cancel Keys Aws Expire Sweep
# Lambda runs arm64 (template.yaml); the test harness builds for the host.
LAMBDA_GOARCH ?= arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"
# Lowercase, as the functions' own folders are named: bin/schedule/bootstrap.
function_name = $(shell echo '$*' | tr A-Z a-z)
ARTIFACTS_DIR ?= bin/$(function_name)
DATA_DIR ?= data

.PHONY: run test build bench fuzz events clean clean-data image image-test dynamodb-local sam-test sam-bench sam-api sam-image
# build-<LogicalId> are pattern targets: declaring them .PHONY would disable the pattern.

run:
	@mkdir -p .cache/bin
	$(GO) build -buildvcs=auto -o .cache/bin/localserver ./infra/localserver
	exec .cache/bin/localserver $(ARGS)

test:
	infra/test.sh

build: $(FUNCTIONS:%=build-%Function)

build-%Function:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build $(LAMBDA_FLAGS) \
		-o $(ARTIFACTS_DIR)/bootstrap ./functions/$(function_name)

IMAGE ?= keydeletion-localserver:dev
DOCKER ?= docker
IMAGE_CONTEXT := .cache/image

# A static binary (no cgo) for the host's architecture; the context holds
# only what the image copies. CA certificates come from the host when it
# has them (for an https EVENTS_WEBHOOK); else the bundle is empty.
image:
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make image needs a Docker daemon, and none answers (DOCKER_HOST=$${DOCKER_HOST:-default}): start one (Debian: apt-get install docker.io; dockerd), or run make image-test as root, which starts a private one" >&2; exit 1; }
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/data
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -trimpath -ldflags="-s -w" -o $(IMAGE_CONTEXT)/localserver ./infra/localserver
	cp infra/container/Dockerfile infra/local/credentials.json $(IMAGE_CONTEXT)/
	cp infra/local/seed.yaml $(IMAGE_CONTEXT)/seed.example.yaml
	if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_CONTEXT)/; \
	else : > $(IMAGE_CONTEXT)/ca-certificates.crt; fi
	DOCKER_BUILDKIT=0 $(DOCKER) build -q -t $(IMAGE) $(IMAGE_CONTEXT)

image-test:
	infra/container/test.sh

# The test binary is compiled before the sandbox's namespace, which reaches
# no network; it runs in its package's folder, as go test runs it.
SAM_TEST_BIN := $(CURDIR)/.cache/sam-local/sam.test
sam-test:
	@mkdir -p .cache/sam-local
	$(GO) test -c -tags sam -o $(SAM_TEST_BIN) ./infra/sam/
	infra/sam/sandbox.sh sh -c 'cd infra/sam && $(SAM_TEST_BIN) -test.count=1 -test.v'

# make sam-image: the Lambda emulation image sam local runs the functions
# in, built from the pinned SAM CLI's emulator instead of pulled
# (infra/sam/image.sh; then sam local ... --skip-pull-image).
sam-image:
	infra/sam/image.sh

# make sam-api: sam local start-api on 127.0.0.1:3000, every function in a
# container of your Docker daemon, DynamoDB Local behind it (infra/sam/api.sh).
sam-api:
	infra/sam/api.sh

# make sam-bench: each function through sam local invoke (a container each
# time) and through start-lambda (cold, then warm), and DescribeKey through
# start-api beside the local server (README, "Events and sam local invoke").
sam-bench:
	@mkdir -p .cache/sam-local
	$(GO) test -c -tags sam -o $(SAM_TEST_BIN) ./infra/sam/
	infra/sam/sandbox.sh sh -c 'cd infra/sam && $(SAM_TEST_BIN) -test.run "^$$" -test.bench DescribeKey -test.benchtime 3s && \
		$(SAM_TEST_BIN) -test.run "^$$" -test.bench Invoke -test.benchtime 3x && \
		$(SAM_TEST_BIN) -test.run "^$$" -test.bench StartLambda -test.benchtime 20x'

# DynamoDB Local in the foreground for sam local invoke (README): a fixed
# port, one database for every access key (-sharedDb), in memory.
DYNAMODB_LOCAL_PORT ?= 8000
dynamodb-local:
	DYNAMODB_LOCAL_PORT=$(DYNAMODB_LOCAL_PORT) DYNAMODB_LOCAL_FOREGROUND=1 exec infra/dynamodblocal/start.sh

bench:
	GO=$(GO) infra/bench.sh

fuzz:
	infra/fuzz.sh

events:
	python3 infra/eventgen/generate.py

clean:
	rm -rf bin .cache/dynamodb-local/*.log

# clean-data empties the local server's embedded store (DATA_DIR, default
# ./data): every key, tombstone and audit record. Stop the server first.
clean-data:
	rm -rf $(DATA_DIR)
