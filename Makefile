# Safeclose Billing. `make run` and `make test` work on a fresh machine:
# they install PostgreSQL (Debian package) and stripe-mock when missing.
.DEFAULT_GOAL := help
SHELL := /bin/bash
BIN := bin/safeclose-billing

.PHONY: help deps build run test bench lint

help:
	@echo "make run    the whole service on a local stack (Postgres under .data/, stripe-mock)"
	@echo "make test   every test, against a real Postgres cluster and stripe-mock"
	@echo "make bench  the benchmarks, with the bare-SQL baselines measured in the same run"
	@echo "make lint   no binaries or build output tracked (scripts/check-tree.sh), gofmt, go vet, staticcheck"

deps:
	@scripts/stack.sh deps

build:
	go build -o $(BIN) ./cmd/safeclose-billing

run: deps build
	@scripts/run.sh

test: deps
	@scripts/test.sh

bench: deps
	@scripts/bench.sh

lint:
	@scripts/check-tree.sh
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
