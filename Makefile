# Tessera: `make demo` runs the main job end to end, `make test` runs all tests.
# Every target installs what it needs (torch 2.11.0, etcd, protoc) when missing.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# libtorch for the worker: found or installed by scripts/setup-torch.sh.
LIBTORCH_ENV = LIBTORCH="$$(cat .libtorch)"

# docker-compose (Debian's) or the compose plugin, whichever the machine has.
COMPOSE := $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)

.PHONY: help deps torch build release certs test test-faults coldstart incremental fault-report deploy-check compose-test fresh-check lint fmt clippy demo bench fuzz images up down clean

help: ## list the targets
	@echo "Tessera make targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install etcd, protoc and gpmetis with apt-get when missing
	@scripts/setup-deps.sh

.libtorch:
	@scripts/setup-torch.sh > .libtorch.tmp && mv .libtorch.tmp .libtorch
	@echo "libtorch: $$(cat .libtorch)"

torch: ## find or install torch 2.11.0 (cached per machine, outside the clone)
	@if [ ! -s .libtorch ] || [ ! -d "$$(cat .libtorch)/lib" ]; then rm -f .libtorch; $(MAKE) --no-print-directory .libtorch; fi

build: deps torch ## debug build of every crate
	$(LIBTORCH_ENV) $(CARGO) build --workspace --all-targets

release: deps torch ## release build of the binaries
	$(LIBTORCH_ENV) $(CARGO) build --workspace --release --bins

# Host names the certificates hold besides localhost, 127.0.0.1 and ::1: the
# compose services' names, and the Kubernetes services' (the PS pods are
# <pod>.ps, matched by *.ps).
CERT_HOSTS ?= etcd,coordinator,recommend,ps-0,ps-1,worker-0,worker-1,*.ps,*.etcd
CERTS_DIR ?= certs

certs: deps ## a development CA and a certificate per component in certs/ (for --tls-dir; kept when present)
	$(CARGO) build --release -p coordinator --bin coordinator
	target/release/coordinator certs --out $(CERTS_DIR) --host '$(CERT_HOSTS)'

test: deps torch ## run every test (unit, integration with real etcd and binaries)
	$(LIBTORCH_ENV) $(CARGO) build --workspace --bins
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(LIBTORCH_ENV) $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(LIBTORCH_ENV) $(CARGO) test --workspace --no-fail-fast; \
	fi
	scripts/deploy-check.sh target/debug
	@if docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory compose-test; \
	else echo "compose-test: skipped: no Docker engine answers (docker info failed)"; fi

# The fault tests (also part of `make test`): real processes on loopback,
# real etcd and real training, each fault mid-job.
FAULT_TESTS = --test worker_loss --test control_plane_faults --test ps_failure --test local_cluster

test-faults: deps torch ## the fault suite alone: dead, paused and restarted workers, shards, coordinator, etcd
	$(LIBTORCH_ENV) $(CARGO) build --workspace --bins
	$(LIBTORCH_ENV) $(CARGO) test -p tessera-tests $(FAULT_TESTS) -- --test-threads 1

COLDSTART_DATASETS ?= tmall_mb ecomm

coldstart: release ## new users (10% held out) and new items (ecomm's day-11) folded into HGT, against item-kNN, popularity and category popularity (about 20 min; target/coldstart/*/report.md)
	@for d in $(COLDSTART_DATASETS); do $(LIBTORCH_ENV) scripts/coldstart-eval.sh $$d || exit 1; done
	$(LIBTORCH_ENV) scripts/coldstart-items.sh

incremental: release ## tmall_mb's last day appended: resume from the base bundle against a full retrain, side by side (about 20 min; target/incremental/tmall_mb/report.md)
	$(LIBTORCH_ENV) scripts/incremental-eval.sh

fault-report: release ## each fault's NDCG@10 against a fault-free run of the same job (release, about 10 min; target/fault-report.md)
	$(LIBTORCH_ENV) $(CARGO) test --release -p tessera-tests --test fault_quality -- --ignored --nocapture

lint: deps torch ## rustfmt check and clippy with -D warnings
	$(CARGO) fmt --all --check
	$(LIBTORCH_ENV) $(CARGO) clippy --workspace --all-targets -- -D warnings -D clippy::todo

fmt: ## format the code
	$(CARGO) fmt --all

demo: release ## the main job end to end on a local cluster: synthetic data, HGT against MF
	@mkdir -p data/demo
	@test -f data/demo/synth.csv || target/release/coordinator graph synth --users 20000 --items 10000 \
	  --events 200000 --seed 42 --out data/demo/synth.csv
	@# A graph older than its build spec is rebuilt (the job builds it when missing).
	@if [ -f data/demo/graph/manifest.json ] && [ examples/graphs/demo.toml -nt data/demo/graph/manifest.json ]; then \
	  rm -rf data/demo/graph; fi
	$(LIBTORCH_ENV) target/release/coordinator local examples/jobs/demo.toml
	@scripts/demo-serve.sh runs/demo demo

bench: release deps ## all benchmarks side by side, HGT against PyG HGTConv included (about 40 min; BENCH_QUICK=1: about 5): bench/report.md, bench/plots, bench/results
	@bench/run.sh

deploy-check: deps torch ## render and validate the Kubernetes manifests (kubernetes-validate --strict); check compose's and their flags against --help
	$(LIBTORCH_ENV) $(CARGO) build --workspace --bins
	scripts/deploy-check.sh target/debug

compose-test: release ## the docker compose cluster end to end: images, 3 jobs (a PS killed, a worker cut off), the endpoint, teardown
	@scripts/compose-test.sh

fresh-check: ## in a container of the bare Debian base: setup-deps, setup-torch and the release build (log: target/fresh-machine.log)
	@deploy/docker/fresh-machine.sh

fuzz: deps ## cargo-fuzz: PS requests, job and graph specs, the log reader, FUZZ_SECONDS (60) each (report: fuzz/report.md)
	@scripts/fuzz.sh

images: release ## container images (etcd, coordinator, ps-server, worker, recommend); no registry needed
	@deploy/docker/build-images.sh

up: images ## the docker compose cluster (deploy/compose.yaml): runs the demo job, then serves on :8080
	$(COMPOSE) -f deploy/compose.yaml up -d
	@echo "recommend service: http://127.0.0.1:$${TESSERA_RECOMMEND_PORT:-8080}/v1/users/1/recommendations?k=10"

down: ## stop the docker compose cluster and remove its containers, network and volumes
	$(COMPOSE) -f deploy/compose.yaml down -v --remove-orphans

clean: ## remove build outputs (keeps the torch cache)
	$(CARGO) clean
	rm -f .libtorch
