# make run   start the service on the embedded store (ADDR, DATA_DIR, CLOCK_OFFSET: see README)
# make test  every test: gofmt, vet, staticcheck, and go test with DynamoDB Local
# make build the Lambda binaries, as sam build makes them, into bin/<function>/bootstrap
# make bench the benchmarks whose figures the README reports

GO ?= go
FUNCTIONS := schedule cancel keys aws expire
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"

.PHONY: run test build bench events clean $(addprefix build-,$(FUNCTIONS))

run:
	$(GO) run ./infra/localserver

test:
	infra/test.sh

build: $(addprefix build-,$(FUNCTIONS))

$(addprefix build-,$(FUNCTIONS)): build-%:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o bin/$*/bootstrap ./functions/$*

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./shared/boltstore/ ./shared/routes/

events:
	python3 infra/eventgen/generate.py

clean:
	rm -rf bin .cache/dynamodb-local/*.log
