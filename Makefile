# Entry points. `make serve` and `make test` set up what they need on a fresh Debian/Ubuntu
# machine (system packages through sudo when not root, the virtualenv); `make system` and
# `make install` do the set-up steps alone.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUNTIME_DIR := .sandbox-runtime
RUNTIME_INPUTS := scripts/build_runtime.sh sandbox/runtime-requirements.txt $(wildcard sandbox/toolchains/*/* sandbox/toolchains/*.*)
# The sandbox's languages (space- or comma-separated; default all): which toolchains
# `make system`/`make install` install and which parts of the runtime directory are built.
LANGUAGES ?= c cpp java javascript typescript go rust bash
export LANGUAGES
# The set-up reruns when LANGUAGES changes: this file holds the value it last ran with.
LANGUAGES_STAMP := $(RUNTIME_DIR)/.languages
$(shell mkdir -p $(RUNTIME_DIR) && { echo '$(LANGUAGES)' | cmp -s - $(LANGUAGES_STAMP) || echo '$(LANGUAGES)' >$(LANGUAGES_STAMP); })
TRL_STAMP := $(VENV)/.trl-stamp
# torch's CPU build (about 200 MB) from PyTorch's own index when it resolves; else PyPI's
# torch==2.13.0, which on Linux x86-64 is the CUDA build (several GB with its nvidia-* wheels).
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: system install install-trl client-check serve worker test bench realdata realgens humanevalx grpo-step calibrate-check lint format clean train up down compose-test loadtest

# OpenRLHF's and veRL's packages whose reward-calling code the contract tests read.
TRAINER_CLIENT_FILES := openrlhf==0.11.2 verl==0.9.1

# Scaled-out settings (rq backend): REDIS_URL for `make worker` and `make up`.
REDIS_URL ?= redis://127.0.0.1:6379/0

# System packages: the code sandbox's languages (LANGUAGES), Python's venv, Redis for the
# scaled-out backend and the tests (started when none answers on 6379).
system:
	bash scripts/install_system.sh

$(STAMP): pyproject.toml client/pyproject.toml sandbox/_native.c $(RUNTIME_INPUTS) $(LANGUAGES_STAMP)
	bash scripts/install_system.sh serve
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The client (client/, its own distribution) and the service that depends on it, in one
	# resolve so pip takes the client from this checkout.
	$(BIN)/pip install --quiet -e ./client -e '.[dev]'
	# The runtime directory programs in the sandbox see: Python's site-packages (every package
	# pinned in sandbox/runtime-requirements.txt), a warm Go build cache, prebuilt Rust crates,
	# Node modules, the TypeScript transpiler; each part only when out of date.
	bash scripts/build_runtime.sh --pip $(BIN)/pip $(RUNTIME_DIR)
	# OpenRLHF's and veRL's reward clients are tested against the service; their own deps
	# (torch, ray, vllm, ...) are not needed for that.
	$(BIN)/pip install --quiet --no-deps $(TRAINER_CLIENT_FILES)
	touch $(STAMP)

# The trl extra (torch CPU, trl, transformers) for the GRPO loop test; never in the service.
$(TRL_STAMP): $(STAMP)
	$(BIN)/pip install --quiet $$($(BIN)/python -c "import socket, sys, urllib.parse; socket.getaddrinfo(urllib.parse.urlparse(sys.argv[1]).hostname, 443)" $(TORCH_CPU_INDEX) 2>/dev/null && echo --extra-index-url $(TORCH_CPU_INDEX)) -e ./client -e '.[dev,trl]'
	touch $(TRL_STAMP)

install-trl: $(TRL_STAMP)

install: $(STAMP)

# The client alone, as a trainer node installs it (needs the package index): a fresh virtualenv,
# `pip install ./client`, what that installed (none of the service's dependencies may be among
# them), then the veRL/TRL/OpenRLHF adapter tests by that interpreter against this checkout's service.
client-check: $(STAMP)
	TRAINER_FILES="$(TRAINER_CLIENT_FILES)" bash scripts/client_check.sh $(BIN)/python $(PYTHON)

# HOST / PORT (make serve HOST=0.0.0.0 PORT=9000) override REWARD_HOST / REWARD_PORT only when
# given; otherwise the service reads those from the environment or .env (default 127.0.0.1:8000).
serve: $(STAMP)
	$(if $(HOST),REWARD_HOST=$(HOST)) $(if $(PORT),REWARD_PORT=$(PORT)) $(BIN)/reward serve

worker: $(STAMP)
	REDIS_URL=$(REDIS_URL) $(BIN)/reward worker

test: $(TRL_STAMP)
	bash scripts/install_system.sh
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# The study's released data, LeetCodeDataset and MBPP converted and scored whole:
# make realdata DATA=/path/to/data (default: ../shared/data when it exists) [REALDATA_ARGS="--limit 50"]
realdata: $(STAMP)
	$(BIN)/python -m bench.realdata $(DATA) $(REALDATA_ARGS)

# Public model generations labelled right or wrong by their sources, scored through the service
# (bench, not test): make realgens DATA=DIR, where DIR holds raw/ (docs/eval.md says how to fetch
# it) or an already built corpus/, and adjudication.jsonl [REALGENS_ARGS="--only tot --limit 200"]
realgens: $(STAMP)
	@if [ -z "$(DATA)" ]; then echo "make realgens needs DATA=DIR: the real-generations corpus (raw/ or corpus/; docs/eval.md says how to build it)"; exit 2; fi
	$(BIN)/python -m bench.realgens $(DATA) $(REALGENS_ARGS)

# HumanEval-X's canonical solutions (and another problem's) in C++, Go, Java, JavaScript, Python and
# Rust through /v1/score and /run_code: make humanevalx DATA=/path/to/humaneval-x
# (default: ../shared/data/humaneval-x when it exists) [HUMANEVALX_ARGS="--languages go,rust --limit 20"]
humanevalx: $(STAMP)
	$(BIN)/python -m bench.humanevalx $(DATA) $(HUMANEVALX_ARGS)

# One GRPO code step (128 prompts x 8 samples) as OpenRLHF sends it, next to the study's own reward:
# make grpo-step [GRPO_ARGS="--backend rq --rq-workers 4"]; GRPO_ARGS=--audit-compare: the audit at 2 % and off
# GRPO_ARGS=--calibrated: the default time limits and the limits from the references, side by side
grpo-step: $(STAMP)
	$(BIN)/python -m bench.grpo_step $(GRPO_ARGS)

# Time limits from the references: every reference (and TACO oracle) of the study's code data, LeetCodeDataset
# and MBPP scores 1 under its calibrated limit, RUNS times with the machine loaded:
# make calibrate-check DATA=/path/to/data (default: ../shared/data) [RUNS=20] [CALIBRATE_ARGS="--limit 50"]
RUNS ?= 20
calibrate-check: $(STAMP)
	$(BIN)/python -m bench.calibrate_check $(DATA) --runs $(RUNS) $(CALIBRATE_ARGS)

# make train DOMAIN=math|countdown|code|kk|zebra|puzzle|mix [MODEL=Qwen/Qwen2.5-7B] [TEMPLATE=instruct]
#   [SOURCES="deepscaler=FILE coder1=FILE gen:kk=8000"] [REWARD_URL=...] [DRY_RUN=1] [TRAIN_ARGS="--gpus 4"]
# Without SOURCES the domain's public datasets are downloaded into a cache (Hugging Face Hub).
train: $(STAMP)
	@test -n "$(DOMAIN)" || { echo "usage: make train DOMAIN=math|countdown|code|kk|zebra|puzzle|mix [MODEL=...] [DRY_RUN=1]"; exit 2; }
	$(BIN)/python -m trainer.launch --domain $(DOMAIN) $(if $(MODEL),--model $(MODEL)) $(if $(TEMPLATE),--template $(TEMPLATE)) $(foreach s,$(SOURCES),--source $(s)) $(if $(REWARD_URL),--reward-url $(REWARD_URL)) $(if $(filter-out 0 false no,$(DRY_RUN)),--dry-run) $(TRAIN_ARGS)

# The docker compose cluster (redis, api, N workers); WORKERS=N, MONITORING=1 for Prometheus + Grafana.
up:
	bash deploy/compose.sh up

down:
	bash deploy/compose.sh down

# End to end on the compose cluster: build offline, score a mixed batch, kill a worker mid-batch.
compose-test: $(STAMP)
	bash deploy/compose.sh test

# make loadtest URL=http://127.0.0.1:8000 DURATION=60 CONCURRENCY=256 OUT=loadtest-report
URL ?= http://127.0.0.1:8000
DURATION ?= 60
CONCURRENCY ?= 256
OUT ?= loadtest-report
loadtest: $(STAMP)
	$(BIN)/reward loadtest --url $(URL) --duration $(DURATION) --concurrency $(CONCURRENCY) --out $(OUT) $(LOADTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) bench/results .pytest_cache .ruff_cache
