# One entry point per job. Every target creates what it needs: a pinned uv in .cache/, then the
# locked environment in .venv/ (Python 3.13, from .python-version).
UV_VERSION := 0.13.8
PYTHON ?= $(shell command -v python3.13 2>/dev/null || echo python3)
BOOT := .cache/bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never

.PHONY: dev demo test unit integration lint format typecheck cfn-lint ci clean

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	touch $@

dev: $(VENV)/.synced  ## create or update the development environment

demo: dev  ## run both handlers on events/ against a local AWS endpoint and DeepCall stand-in
	$(BIN)/masking-unset demo

test: dev  ## the whole test suite
	$(BIN)/pytest

unit: dev
	$(BIN)/pytest tests/unit

integration: dev
	$(BIN)/pytest tests/integration

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: dev
	$(BIN)/mypy src

cfn-lint: dev
	$(BIN)/cfn-lint template.yaml

ci: lint typecheck cfn-lint test  ## everything CI checks

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
