# Captiva: one entry point. `make help` lists the targets.
#   make lab    the whole lab on this machine (fresh Debian 12, as root)
#   make test   lint, unit, integration and molecule tests (what CI runs)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV ?= .venv
BIN := $(VENV)/bin
INVENTORY ?= inventories/lab
PYTEST_ARGS ?=
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

# An inventory may ship a vault password file that is safe to commit (lab and example
# only: vault-password-<id>-only.txt). Real inventories never do: set
# ANSIBLE_VAULT_PASSWORD_FILE or pass VAULT_ARGS="--vault-id prod@prompt" instead.
VAULT_FILE := $(firstword $(wildcard $(INVENTORY)/vault-password-*-only.txt))
VAULT_ID := $(patsubst vault-password-%-only.txt,%,$(notdir $(VAULT_FILE)))
VAULT_ARGS ?= $(if $(VAULT_FILE),--vault-id $(VAULT_ID)@$(VAULT_FILE))
# Extra ansible-playbook arguments, e.g. ANSIBLE_ARGS="-e captiva_allow_mass_prune=true".
ANSIBLE_ARGS ?=
PLAYBOOK := $(BIN)/ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) $(ANSIBLE_ARGS)

.PHONY: help test lint unit integration bench validate plan apply clean

help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

-include mk/*.mk

## test: everything CI runs: lint, unit, integration and molecule (installs what it needs)
test: lab-deps venv
	@$(MAKE) --no-print-directory lint unit integration molecule

## lint: ansible-lint (production profile), yamllint and ruff, no skip lists
lint: venv
	$(BIN)/ruff check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline

## unit: pure-Python tests (roster, units, planners, periods)
unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

## integration: tests against real PostgreSQL, FreeRADIUS, the RouterOS API server, SMTP
integration: venv
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

## bench: benchmarks with figures and ratios against a baseline in the same run
bench: venv
	$(BIN)/pytest -q -s -p no:cacheprovider -o python_files='bench_*.py' bench/
	@for script in bench/*_bench.py; do echo "== $$script"; $(BIN)/python $$script; done

## validate INVENTORY=...: check the roster, contacting no host
validate: venv
	$(PLAYBOOK) playbooks/validate.yml

## plan INVENTORY=...: what apply would change (check + diff), ending with a summary
plan: venv
	$(PLAYBOOK) playbooks/site.yml --check --diff

## apply INVENTORY=...: converge the inventory
apply: venv
	$(PLAYBOOK) playbooks/site.yml

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
