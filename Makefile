# hyper: the two commands of the README, and the pieces they are made of.
# Everything installs into the project's own virtual environment, .venv (the standard
# library's venv, reused when it exists); the system's Python is left as it was.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.hyper-installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: quickstart setup data venv install test lint bench

## Set everything up, then train the default recipe on real Fashion-MNIST.
quickstart: setup
	$(VENV)/bin/hyper train --recipe fmnist-quick

## Install the Fashion-MNIST files and, into .venv, the package with its test dependencies.
setup: data install

data:
	@if [ ! -f $(FMNIST) ]; then \
	  echo "installing Debian's dataset-fashion-mnist"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	fi

## The virtual environment; Debian's python3 needs its python3-venv package for it.
venv: $(PY)

$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  pkg=python$$($(PYTHON) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv; \
	  echo "$(PYTHON) -m venv failed: installing Debian's $$pkg"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$pkg && \
	  $(PYTHON) -m venv $(VENV); }

# torchattacks (the attack tests' reference) pins an old requests; it needs nothing that is
# not installed already, so it goes in without its dependencies and cannot downgrade any.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[test]"
	$(PIP) install -q --no-deps torchattacks==3.5.1
	@touch $@

install: $(STAMP)

## The test suite (CPU only, 2-5 minutes on 2 cores).
test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check hypercli tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/train.py
