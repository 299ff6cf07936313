# hyper: the two commands of the README, and the pieces they are made of.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: quickstart setup data install test lint bench

## Set everything up, then train the default recipe on real Fashion-MNIST.
quickstart: setup
	$(PYTHON) -m hypercli train --recipe fmnist-quick

## Install the Fashion-MNIST files and the package with its test dependencies.
setup: data install

data:
	@if [ ! -f $(FMNIST) ]; then \
	  echo "installing Debian's dataset-fashion-mnist"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	fi

install:
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[test]"

## The test suite (CPU only, about 7 minutes on 2 cores).
test:
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check hypercli tests benchmarks

bench:
	$(PYTHON) benchmarks/train.py
