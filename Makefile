# CloudSage. The two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_VALIDATION := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help dev native run test unit integration infra-tests e2e lint format mypy synth deploy destroy layer layer-smoke bench bench-api fuzz-api openapi api bench-nab bench-forecast bench-scaling bench-scale bench-rightsizing bench-classify bench-perf bench-perf-live security clean pr

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

dev: $(STAMP) ## create .venv with the pinned dependencies

# The anomaly detector's compiled kernel for this machine (C through ctypes; same results as its Python code, which
# runs when there is no C compiler). `make layer` builds the Lambda architecture's own.
NATIVE := lambdas/cloudsage/core/_native/libcloudsage-$(shell uname -m).so
$(NATIVE): lambdas/cloudsage/core/_native/anomaly.c lambdas/cloudsage/core/native.py | $(STAMP)
	PYTHONPATH=lambdas $(PY) -m cloudsage.core.native

native: $(NATIVE) ## compile the anomaly detector's C kernel for this machine

run: $(STAMP) $(NATIVE) ## analyse the bundled demo fleet end to end on the local emulator
	$(VENV)/bin/cloudsage run --out out

test: $(STAMP) $(NATIVE) ## the whole test suite
	$(PY) -m pytest -q

unit: $(STAMP) $(NATIVE) ## unit tests (pure core)
	$(PY) -m pytest -q tests/unit

integration: $(STAMP) $(NATIVE) ## handlers and adapters against moto
	$(PY) -m pytest -q tests/integration

infra-tests: $(STAMP) ## CDK assertion tests
	$(PY) -m pytest -q tests/infra

e2e: $(STAMP) $(NATIVE) ## the local state-machine run
	$(PY) -m pytest -q tests/e2e

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

mypy: $(STAMP)
	$(VENV)/bin/mypy

CDK := npx --yes aws-cdk@2

synth: $(STAMP) ## cdk synth (runs cdk-nag; fails on any unacknowledged finding)
	$(CDK) synth --quiet

deploy: $(STAMP) layer ## cdk deploy to the account in your AWS credentials (see docs/deploy.md)
	$(CDK) deploy CloudSage

destroy: $(STAMP) ## cdk destroy (the table, bucket and keys are retained: docs/deploy.md)
	$(CDK) destroy CloudSage

bench-nab: $(STAMP) $(NATIVE) ## NAB: CloudSage detector vs baselines (DATA=../shared/data/nab)
	$(PY) -m benchmarks.nab.run --data $(or $(DATA),../shared/data/nab)

bench-rightsizing: $(STAMP) ## rightsizing backtest vs Compute Optimizer, VPA, krr, Cost Explorer rules
	$(PY) -m benchmarks.rightsizing.run --data $(or $(DATA),../shared/data)

bench-classify: $(STAMP) ## workload classification accuracy on a held-out labelled fleet
	$(PY) -m benchmarks.classify.run --data $(or $(DATA),../shared/data)

bench-perf: $(STAMP) ## PerformancePredictor vs USL on real load tests (DATA=../shared/data)
	$(PY) -m benchmarks.perf.run --data $(or $(DATA),../shared/data)

bench-perf-live: $(STAMP) ## a fresh real load test on this machine (gunicorn + wrk, 127.0.0.1, ~3 min; not for CI)
	$(PY) -m benchmarks.perf.live_loadtest --install --reps 3 --duration 2 --max-minutes 3

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	@touch $@

bench-forecast: $(BENCH_STAMP) ## forecasts vs naive, seasonal naive, MSTL, AutoETS on real NAB series
	$(PY) -m benchmarks.forecast.run --data $(or $(DATA),../shared/data)

bench-scaling: $(STAMP) ## predictive vs reactive target tracking vs static peak on real traces
	$(PY) -m benchmarks.scaling.run --data $(or $(DATA),../shared/data)

bench-scale: $(STAMP) $(NATIVE) ## 1,000 resources through the state machine; warm/cold CPU; monthly cost
	$(PY) -m benchmarks.scale.run

bench-api: $(STAMP) $(NATIVE) ## GET /insights latency over local HTTP with 10,000 insights
	$(PY) -m benchmarks.api.run --data $(or $(DATA),../shared/data)

fuzz-api: $(STAMP) $(NATIVE) ## a long schemathesis run over docs/openapi.json against the local server
	$(PY) -m benchmarks.api.fuzz --examples $(or $(EXAMPLES),300)

openapi: $(STAMP) $(NATIVE) ## regenerate docs/openapi.json from the code
	PYTHONPATH=lambdas $(PY) -m cloudsage.handlers.api docs/openapi.json

api: $(STAMP) $(NATIVE) ## serve the Insights API on 127.0.0.1:8080 over an analysed demo fleet
	$(VENV)/bin/cloudsage api --port 8080

bench: bench-api bench-nab bench-forecast bench-scaling bench-rightsizing bench-classify bench-perf bench-scale ## every benchmark

pr: lint test ## what a reviewer expects to be green

clean:
	rm -rf $(VENV) out cdk.out .pytest_cache

layer: $(STAMP) ## build the science layer (arm64, Python 3.14), print its size, fail above 200 MB
	$(PY) layers/science/build.py

layer-smoke: $(STAMP) ## build the layer for this machine and import every handler from it
	$(PY) layers/science/build.py --arch x86_64 --python-version $$($(PY) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")') --out build/layer-smoke --limit-mb 262 --smoke

SECURITY_VENV := .venv-security
$(SECURITY_VENV)/.installed:
	$(PYTHON) -m venv $(SECURITY_VENV)
	$(SECURITY_VENV)/bin/pip install --quiet checkov==3.3.30
	@touch $@

security: $(STAMP) $(SECURITY_VENV)/.installed ## cdk-nag + cfn-lint + checkov on the synthesized template
	rm -rf build/security && $(PY) -c 'from infra.app import build_app; app, _ = build_app(outdir="build/security", nag=True); app.synth()'
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- build/security/CloudSage.template.json
	$(SECURITY_VENV)/bin/checkov --config-file infra/checkov.yaml -f build/security/CloudSage.template.json
