# The two commands of the README are `make demo` and `make test`; both set up
# everything they need on a fresh machine first.
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup demo test lint check release solutions thresholds benchmark otter otter-parity \
	image image-local docker-engine benchmark-docker benchmark-scale

$(INSTALLED): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

setup: $(INSTALLED)

demo: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder demo

lint: $(INSTALLED)
	$(BIN)/ruff check autograder tests deploy benchmarks nbgrader_config.py
	$(BIN)/ruff format --check autograder tests deploy benchmarks nbgrader_config.py

test: lint
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -v --durations=15

check: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder check --all

release: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder release --all

solutions: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder solutions --all

thresholds: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder thresholds --seeds 10

benchmark: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/run.py

# Grading per submission in containers against the sandbox (needs the engine and image).
benchmark-docker: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/docker_overhead.py

# A class of 200 + 200 + 20 students graded by nbgrader, 1 and 2 local workers and a
# Dask cluster, and a model of a deadline burst (hours; needs root). SCALE_ARGS adds
# options, e.g. SCALE_ARGS="--students 20 --write-results".
benchmark-scale: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/scale.py $(SCALE_ARGS)

otter: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder export-otter --all

otter-parity: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder otter-parity --all

# The CPU grading image of the docker back end, from the public python:3.11-slim.
image: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder image build

# The same image on a machine that cannot pull base images: a local Debian 12 base.
image-local: $(INSTALLED)
	bash scripts/debian_base_image.sh
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/autograder image build --base intro-dl-base:bookworm

# A running Docker engine (Debian's docker.io, dockerd in the background).
docker-engine:
	bash scripts/docker_engine.sh
