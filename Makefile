# Entry points. `make system` (root, once per machine) and `make install` set everything up;
# `make serve` runs the service; `make test` runs the test suite.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed-stamp

.PHONY: system install serve test bench lint format clean

# System packages: a C++ compiler for the code sandbox, Redis for the scaled-out backend.
system:
	bash scripts/install_system.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# OpenRLHF's reward client is tested against the service; its own deps (torch, ray,...) are not needed.
	$(BIN)/pip install --quiet --no-deps openrlhf==0.11.2
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	REWARD_HOST=$(HOST) REWARD_PORT=$(PORT) $(BIN)/reward serve

test: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) bench/results .pytest_cache .ruff_cache
