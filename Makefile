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
# The vault ids the inventory's vaulted values need; without a vault password for them
# (VAULT_ARGS, ANSIBLE_VAULT_PASSWORD_FILE or ANSIBLE_VAULT_IDENTITY_LIST) validate, plan and
# apply stop at once and say how to give one.
VAULT_IDS = $(sort $(shell grep -rhoE '^\s*\$$ANSIBLE_VAULT;1\.[12];AES256;[A-Za-z0-9_.-]+' \
	$(INVENTORY) 2>/dev/null | sed 's/.*;//'))

.PHONY: help test lint unit integration bench validate plan apply clean vault-password

help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

-include mk/*.mk

# make test runs its parts side by side, TEST_JOBS at a time (TEST_JOBS=1: one after another,
# in the order of TEST_PARTS). Each part's output goes to $(TEST_LOGS)/<part>.log; a part that
# fails has its whole log printed, each line prefixed with [<part>], and make test fails,
# naming on its last line every part that failed or did not finish.
TEST_PARTS ?= integration molecule lint unit
TEST_JOBS ?= 4
TEST_LOGS ?= build/test-logs
# The integration tests' pytest-xdist workers (0: no worker process, all in pytest itself).
# Each test file runs whole on one worker (--dist loadfile), so a module's servers start once.
INTEGRATION_WORKERS ?= 2
# --durations: the slowest tests and fixtures at the end of the part's log (where the time goes).
INTEGRATION_ARGS ?= $(if $(filter-out 0,$(INTEGRATION_WORKERS)),-n $(INTEGRATION_WORKERS) --dist loadfile) \
	--durations=30

## test: everything CI runs: lint, unit, integration and molecule, side by side (installs what it needs; TEST_JOBS=1: one after another)
test: lab-deps venv
	@rm -rf $(TEST_LOGS)
	@started=$$(date +%s); status=0; \
	$(MAKE) --no-print-directory -k -j$(TEST_JOBS) $(addprefix test-part-,$(TEST_PARTS)) \
	  || status=$$?; \
	failed=; for part in $(TEST_PARTS); do \
	  [ -f $(TEST_LOGS)/$$part.passed ] || failed="$$failed $$part"; done; \
	[ -z "$$failed" ] || [ $$status -ne 0 ] || status=1; \
	echo "make test: $$([ $$status -eq 0 ] && echo passed || echo "FAILED:$$failed") in" \
	  "$$(( $$(date +%s) - started )) s (logs: $(TEST_LOGS)/)"; \
	exit $$status

# One part of make test, its output in $(TEST_LOGS)/<part>.log: one line when it passes (and
# the file <part>.passed), the whole log when it fails. The line gives the part's wall time and
# the CPU seconds of every process it started (tools/cpu-seconds): side by side on a few
# cores, the CPU is what tells which part costs what.
test-part-%:
	@mkdir -p $(TEST_LOGS)
	@echo "[$*] started $$(date +%T), log: $(TEST_LOGS)/$*.log"
	@started=$$(date +%s); \
	if tools/cpu-seconds $(TEST_LOGS)/$*.cpu \
	    $(MAKE) --no-print-directory $* > $(TEST_LOGS)/$*.log 2>&1; then \
	  touch $(TEST_LOGS)/$*.passed; \
	  echo "[$*] passed in $$(( $$(date +%s) - started )) s, $$(cut -d' ' -f1 $(TEST_LOGS)/$*.cpu)" \
	    "CPU-s: $$(grep -v '^[[:space:]]*$$' $(TEST_LOGS)/$*.log | tail -n 1)"; \
	else \
	  status=$$?; \
	  sed 's/^/[$*] /' $(TEST_LOGS)/$*.log; \
	  echo "[$*] FAILED (exit $$status) after $$(( $$(date +%s) - started )) s: its log is" \
	    "above, and in $(TEST_LOGS)/$*.log"; \
	  exit $$status; \
	fi

## lint: ansible-lint (production profile), yamllint and ruff, no skip lists; ansible-test sanity on the built collection
lint: venv
	$(BIN)/ruff check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline
	@$(MAKE) --no-print-directory sanity

## unit: pure-Python tests (roster, units, planners, periods)
unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

## integration: tests against real PostgreSQL, FreeRADIUS, the RouterOS API server, SMTP (INTEGRATION_WORKERS=2 processes)
integration: venv
	$(BIN)/pytest tests/integration $(INTEGRATION_ARGS) $(PYTEST_ARGS)

## bench: benchmarks with figures and ratios against a baseline in the same run (installs what it needs)
bench: lab-deps venv
	$(BIN)/pytest -q -s -p no:cacheprovider -o python_files='bench_*.py' bench/
	@for script in bench/*_bench.py; do echo "== $$script"; $(BIN)/python $$script; done

## validate INVENTORY=...: check the roster, contacting no host
validate: venv vault-password
	$(PLAYBOOK) playbooks/validate.yml

## plan INVENTORY=...: what apply would change (check + diff), ending with a summary
plan: venv vault-password
	$(PLAYBOOK) playbooks/site.yml --check --diff

## apply INVENTORY=...: converge the inventory
apply: venv vault-password
	$(PLAYBOOK) playbooks/site.yml

vault-password:
	@if [ -n "$(VAULT_IDS)" ] && [ -z "$(strip $(VAULT_ARGS))" ] \
	    && [ -z "$${ANSIBLE_VAULT_PASSWORD_FILE:-}" ] && [ -z "$${ANSIBLE_VAULT_IDENTITY_LIST:-}" ]; then \
	  echo "$(INVENTORY) has values encrypted with vault id(s) $(VAULT_IDS), but no vault password is given." >&2; \
	  echo "Pass it: make $(MAKECMDGOALS) INVENTORY=$(INVENTORY) VAULT_ARGS='--vault-id $(firstword $(VAULT_IDS))@prompt'" >&2; \
	  echo "  (or VAULT_ARGS='--vault-id $(firstword $(VAULT_IDS))@<password file>', or export ANSIBLE_VAULT_PASSWORD_FILE=<password file>)" >&2; \
	  exit 2; \
	fi

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
