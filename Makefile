# One entry point per job. Every target creates what it needs: a pinned uv in .cache/, then the
# locked environment in .venv/ (Python 3.13, from .python-version).
UV_VERSION := 0.13.8
PYTHON ?= $(shell command -v python3.13 2>/dev/null || echo python3)
BOOT := .cache/bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never

.PHONY: help dev demo test unit integration fuzz lint format typecheck cfn-lint openapi bench ci clean

# Every target with a `## ` description, in the order of this file.
help:  ## list every target with its one-line description
	@awk -F ':[^#]*## ' '/^[a-z][a-z-]*:[^=]*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	touch $@

dev: $(VENV)/.synced  ## create or update the development environment

demo: dev  ## run both handlers on events/ against a local AWS endpoint and DeepCall stand-in
	$(BIN)/masking-unset demo

# Workers of the test suite: each starts its own local servers. The tests mostly wait on
# loopback servers, so more workers than cores still pays (docs/testing.md).
TEST_WORKERS ?= 4

test: dev  ## the whole test suite, in parallel (TEST_WORKERS, default 4)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

unit: dev  ## the unit tests
	$(BIN)/pytest tests/unit

integration: dev  ## the integration tests (their own moto server and DeepCall stand-in)
	$(BIN)/pytest tests/integration

fuzz: dev  ## the entry-point fuzz suite with many examples (FUZZ_EXAMPLES, default 2000)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} $(BIN)/pytest tests/fuzz

lint: dev  ## ruff, and the import contracts in pyproject.toml (layers point down only)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: dev  ## rewrite the code as ruff formats and fixes it
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: dev  ## mypy (strict) on both packages under src/
	$(BIN)/mypy -p masking_unset -p masking_unset_tools

# The template, and a copy per value of its SnapStart parameter with the condition decided.
SNAPSTART_VARIANTS := .cache/snapstart

cfn-lint: dev  ## lint template.yaml (SnapStart on and off)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python .ci/snapstart_variants.py $(SNAPSTART_VARIANTS)
	$(BIN)/cfn-lint $(SNAPSTART_VARIANTS)/template-snapstart-*.json

openapi: dev  ## fail if docs/openapi.json no longer matches the models
	$(BIN)/masking-unset openapi --check

bench: dev  ## performance benchmark, about 10 minutes; QUICK=1 for a smoke run (docs/performance.md)
	$(BIN)/python -m benchmarks.run $(if $(QUICK),--quick)

ci: lint typecheck cfn-lint openapi test  ## everything CI checks

clean:  ## remove .venv/ and every cache
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Deployment checks. checkov and the SAM CLI are tools, not project dependencies: each gets its own
# environment under .cache/tools/, outside the locked .venv, because their trees are large and pin
# boto3 versions that conflict with each other and with uv.lock. Their versions are pinned with
# hashes in .ci/<tool>-requirements.txt, compiled from the .in files by `make tools-pins`.
TOOLS := .cache/tools
SAM := $(TOOLS)/sam/bin/sam

.PHONY: checkov artifact build deploy local-invoke requirements tools-pins

# CI also checks the template with checkov and the deployment package built by sam.
ci: checkov artifact

$(TOOLS)/%/.synced: .ci/%-requirements.txt | $(UV)
	$(UV) venv --quiet --clear --python $(PYTHON) $(TOOLS)/$*
	$(UV) pip sync --quiet --python $(TOOLS)/$*/bin/python $<
	touch $@

# --skip-download: no call to Prisma Cloud; the checks themselves ship with checkov.
checkov: dev $(TOOLS)/checkov/.synced  ## scan template.yaml (SnapStart on and off); each skip states its reason in the template
	$(BIN)/python .ci/snapstart_variants.py $(SNAPSTART_VARIANTS)
	$(TOOLS)/checkov/bin/checkov --file template.yaml --compact --skip-download \
		--file $(SNAPSTART_VARIANTS)/template-snapstart-enabled.json \
		--file $(SNAPSTART_VARIANTS)/template-snapstart-disabled.json

artifact: dev $(TOOLS)/sam/.synced  ## sam build, then run both handlers from the build, not from src/
	$(BIN)/python .ci/artifact_check.py --sam $(TOOLS)/sam/bin/sam --work-dir .cache/artifact

# The deployment package: sam build, the unused AWS service models removed from the dependencies
# layer (.ci/prune_layer.py), then bytecode for every module. Lambda's /var/task is
# read-only, so a package without .pyc files compiles everything it imports on each cold start.
build: $(TOOLS)/sam/.synced  ## sam build into .aws-sam/build, precompiled; then `make deploy`
	SAM_CLI_TELEMETRY=0 PATH="$(abspath $(TOOLS)/sam/bin):$$PATH" sam build --parallel \
		|| { echo "make build: sam build failed. $(SAM_HINT)" >&2; exit 1; }
	$(PYTHON) .ci/prune_layer.py .aws-sam/build/DependenciesLayer/python
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build
	@echo "next: make deploy (ARGS=--guided the first time) or make local-invoke; $(SAM_HINT)"

# The same pinned SAM CLI as `make build`, which puts nothing on the PATH. ARGS passes options
# through: `make deploy ARGS=--guided` the first time, then `make build deploy`.
# SAM's own messages suggest a bare `sam`, which is not on the PATH: a failure says what to run.
SAM_HINT := where SAM suggests a 'sam ...' command, the SAM CLI is $(SAM), which is not on \
	the PATH: run 'make build', 'make deploy ARGS=...' or 'make local-invoke ...' instead

deploy: $(TOOLS)/sam/.synced  ## sam deploy the package `make build` made; ARGS=--guided the first time
	SAM_CLI_TELEMETRY=0 $(SAM) deploy $(ARGS) || { echo "make deploy: sam deploy failed. $(SAM_HINT)" >&2; \
		echo "The first deploy needs: make build && make deploy ARGS=--guided" >&2; exit 1; }

# sam local invoke with the same pinned SAM CLI, on the package `make build` made; needs a
# container runtime, checked first (else it says what to run instead). The container is pointed
# at fresh local stand-ins: masking_unset_tools/local/sam_local.py starts them, writes
# $(LOCAL_INVOKE)/env.json (--env-vars) and parameters.txt (--parameter-overrides), runs SAM and
# stops them. `make local-invoke FUNCTION=WebhookFunction EVENT=signed.json`; ARGS passes options
# through; CONTAINER_HOST is the host as the container reaches it.
LOCAL_INVOKE := .cache/local-invoke
CONTAINER_HOST ?= host.docker.internal
SAM_LOCAL := $(BIN)/python -m masking_unset_tools.local.sam_local --dir $(LOCAL_INVOKE) \
	--host $(CONTAINER_HOST) $(if $(EVENT),--event $(EVENT))

local-invoke: dev  ## sam local invoke FUNCTION on EVENT (Docker) against local stand-ins; after `make build`
	$(SAM_LOCAL) --check-runtime
	$(MAKE) --no-print-directory $(TOOLS)/sam/.synced
	SAM_CLI_TELEMETRY=0 $(SAM_LOCAL) -- $(SAM) local invoke $(FUNCTION) $(if $(EVENT),--event $(EVENT)) $(ARGS)

# What sam build installs into the package: the runtime dependencies of uv.lock, nothing from dev.
# tests/test_artifact_requirements.py fails when this file and uv.lock disagree.
requirements: | $(UV)  ## regenerate src/layer/requirements.txt from uv.lock
	$(UV) export --quiet --frozen --no-dev --no-emit-project --output-file src/layer/requirements.txt

tools-pins: | $(UV)  ## re-resolve .ci/<tool>-requirements.txt after editing a .ci/*.in file
	for tool in checkov sam; do \
		$(UV) pip compile --quiet --universal --python-version 3.13 --generate-hashes \
			--output-file .ci/$$tool-requirements.txt .ci/$$tool-requirements.in || exit 1; \
	done
