# undock.oci: developer and CI entry points. Run as root on Debian 12.
#   make demo    set up, then run playbooks/demo.yml against localhost
#   make test    set up, then the whole suite: pytest (all layers), ansible-test sanity, lint
#   make docs    regenerate the module reference (docs/modules/) from the modules' DOCUMENTATION
# Every target that runs something depends on `bootstrap` (idempotent, fast on reruns).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

REPO := $(CURDIR)
VENV := $(REPO)/.venv
PY := $(VENV)/bin/python

# Nothing is installed globally: the virtualenv and the collection link live in .venv/.
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(VENV)/collections
export ANSIBLE_LOCALHOST_WARNING := false
export ANSIBLE_INVENTORY_UNPARSED_WARNING := false

# A hung test must not eat the CI's 90 minutes: per-test limit in seconds.
PYTEST_TIMEOUT ?= 900
PYTEST_ARGS ?=
PYTEST = $(PY) -m pytest --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS)
SANITY_ARGS ?=
PLAYBOOK_ARGS ?=
LAYERS := unit integration interop security node

.PHONY: help bootstrap test pytest sanity lint docs build demo build-image bench clean distclean $(LAYERS)

help:
	@echo "make demo          set up, then run playbooks/demo.yml on localhost"
	@echo "make build-image   set up, then build an image with Ansible tasks (playbooks/build_image.yml)"
	@echo "make test          set up, then the whole suite: pytest tests (all layers) + sanity + lint"
	@echo "make bootstrap     apt packages (hack/apt-packages.txt), .venv, collection link"
	@echo "make unit|integration|interop|security|node   one layer: pytest -m LAYER"
	@echo "make sanity        ansible-test sanity on a copy at .../ansible_collections/undock/oci"
	@echo "make lint          ansible-lint (production profile) and antsibull-changelog lint"
	@echo "make docs          regenerate docs/modules/ from the modules' DOCUMENTATION (commit the result)"
	@echo "make build         ansible-galaxy collection build into build/"
	@echo "make bench         benchmarks (bench/)"
	@echo "make clean         remove test outputs and caches; distclean also removes .venv"
	@echo "variables: PYTEST_ARGS='-k name -x'  PYTEST_TIMEOUT=900  SANITY_ARGS='--test pylint'"

bootstrap:
	@bash hack/bootstrap.sh

# The whole suite. Every part always runs; the target fails if any fails.
# pytest's exit 5 (no test collected) is a failure here, never a silent pass.
test: bootstrap
	@rc=0; $(MAKE) --no-print-directory pytest || rc=$$?; \
	src=0; $(MAKE) --no-print-directory sanity || src=$$?; \
	lrc=0; $(MAKE) --no-print-directory lint || lrc=$$?; \
	echo "make test: pytest exit $$rc, sanity exit $$src, lint exit $$lrc"; \
	[ $$rc -eq 0 ] && [ $$src -eq 0 ] && [ $$lrc -eq 0 ]

pytest:
	@start=$$SECONDS; rc=0; $(PYTEST) tests || rc=$$?; \
	echo "pytest: exit $$rc after $$((SECONDS - start)) s"; \
	if [ $$rc -eq 5 ]; then echo "pytest: ERROR: no test was collected" >&2; fi; \
	exit $$rc

$(LAYERS): bootstrap
	@rc=0; $(PYTEST) -m $@ tests || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "$@: ERROR: no test in this layer was collected" >&2; fi; \
	exit $$rc

sanity: bootstrap
	@start=$$SECONDS; rc=0; bash hack/sanity.sh $(SANITY_ARGS) || rc=$$?; \
	echo "sanity: exit $$rc after $$((SECONDS - start)) s"; \
	exit $$rc

# ansible-lint with .ansible-lint (production profile, offline), then the changelog
# fragments. VIRTUAL_ENV keeps ansible-lint's cache in .venv/.ansible, not ~/.ansible.
lint: bootstrap
	@start=$$SECONDS; rc=0; \
	VIRTUAL_ENV=$(VENV) ansible-lint || rc=$$?; \
	antsibull-changelog lint || rc=$$?; \
	echo "lint: exit $$rc after $$((SECONDS - start)) s"; \
	exit $$rc

# The module reference is generated, checked in, and checked by
# tests/integration/test_module_docs.py: rerun this after changing a module's docs.
docs: bootstrap
	@$(PY) hack/module_docs.py

build: bootstrap
	@ansible-galaxy collection build --force --output-path $(REPO)/build $(REPO)

# hack/demo.py, when present, sets the scene (a registry on 127.0.0.1, an image layout)
# and runs playbooks/demo.yml itself; otherwise the playbook runs directly.
# Localhost uses the venv's python: interpreter discovery can pick a broken pyenv shim.
demo: bootstrap
	@export ANSIBLE_PYTHON_INTERPRETER=$(PY); \
	if [ -f hack/demo.py ]; then $(PY) hack/demo.py $(PLAYBOOK_ARGS); \
	else ansible-playbook -i localhost, -c local -e ansible_python_interpreter=$(PY) \
	  $(PLAYBOOK_ARGS) playbooks/demo.yml; fi

# playbooks/build_image.yml offline, from a busybox base made of local files (docs/building.md).
build-image: bootstrap
	@$(PY) hack/build_image.py $(PLAYBOOK_ARGS)

# Benchmarks: every bench/*.py that starts with a shebang (the entry points, bench/run.py
# among them; helpers have none). One: make bench BENCH=run
BENCH ?=
BENCH_ARGS ?=
bench: bootstrap
	@if [ -n "$(BENCH)" ]; then set -- bench/$(BENCH).py; \
	else set --; for f in bench/*.py; do head -1 "$$f" | grep -q '^#!' && set -- "$$@" "$$f"; done; fi; \
	[ $$# -gt 0 ] || { echo "bench: no benchmark found in bench/" >&2; exit 1; }; \
	rc=0; for f in "$$@"; do echo "=== $$f"; $(PY) "$$f" $(BENCH_ARGS) || rc=$$?; done; exit $$rc

clean:
	rm -rf tests/output .pytest_cache bench/results .cache/bootstrap build
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf .venv .cache
