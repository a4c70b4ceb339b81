# Onboarding and GitOps commands: see docs/onboarding.md and docs/gitops.md.
# Included by the top-level Makefile (which defines VENV, BIN, INVENTORY, PLAYBOOK).

REPORT ?= .captiva/plan/$(notdir $(INVENTORY))
DRIFT_METRICS ?=
CSV ?=
IMPORT_ARGS ?=
BASE ?=

.PHONY: plan-report drift import-users import-registrations plan-roster apply-roster plan-changed apply-changed bench-roster

## plan-roster INVENTORY=...: the daily path's plan: the roster only (validation, RADIUS, the routers' Captiva menus)
plan-roster: venv vault-password
	$(PLAYBOOK) playbooks/roster.yml --check --diff

## apply-roster INVENTORY=...: apply the roster only (make apply converges the hosts too)
apply-roster: venv vault-password
	$(PLAYBOOK) playbooks/roster.yml

## plan-changed / apply-changed INVENTORY=... BASE=<commit last applied>: the -roster target when only roster lists changed since BASE, else plan / apply
plan-changed apply-changed: venv
	@[ -n "$(BASE)" ] || { echo "make $@: set BASE=<the commit last applied>" >&2; exit 2; }
	@scope=$$($(BIN)/python -m captiva.gitops scope $(INVENTORY) --base $(BASE)); \
	target=$(@:-changed=)$$([ "$$scope" = roster ] && echo -roster || true); \
	echo "make $$target: the changes since $(BASE) need the $$scope path"; \
	$(MAKE) --no-print-directory $$target

## plan-report INVENTORY=... [REPORT=prefix]: make plan, plus REPORT.md (a merge-request comment) and REPORT.json
plan-report: venv
	ANSIBLE_CALLBACKS_ENABLED=captiva.campus.captiva_report CAPTIVA_REPORT=$(abspath $(REPORT)) \
		$(PLAYBOOK) playbooks/site.yml --check --diff
	@echo "plan report: $(REPORT).md"

## drift INVENTORY=... [DRIFT_METRICS=file.prom]: plan against the real state; make exits 0 in sync, else 2 (tools/captiva-drift: 0 in sync, 2 drift, 1 error)
drift: venv
	$(BIN)/python tools/captiva-drift $(INVENTORY) $(if $(DRIFT_METRICS),--metrics $(DRIFT_METRICS)) \
		$(if $(ANSIBLE_ARGS),-- $(ANSIBLE_ARGS))

## import-users INVENTORY=... CSV=file.csv [IMPORT_ARGS="--promotion X --dry-run"]: merge a registrar's CSV into the inventory's users
import-users: venv
	@[ -n "$(CSV)" ] || { echo "make import-users: set CSV=path/to/file.csv" >&2; exit 2; }
	$(BIN)/python -m captiva.onboarding import-csv $(INVENTORY) $(CSV) $(IMPORT_ARGS)

## import-registrations INVENTORY=... [IMPORT_ARGS="--dry-run"]: merge the portal's approved sign-up requests into the inventory's users (read as captiva_reconcile); then review and make apply
import-registrations: venv
	$(BIN)/python -m captiva.onboarding import-registrations $(INVENTORY) $(if $(VAULT_FILE),--vault-id $(VAULT_ID) --vault-password-file $(VAULT_FILE)) $(IMPORT_ARGS)

## bench-roster [BENCH_ROSTER_ARGS="--users 20000 --profile"]: make apply-roster, one user added, against its floor (20 s)
BENCH_ROSTER_ARGS ?=
bench-roster: lab-deps venv
	$(BIN)/python bench/roster_bench.py $(BENCH_ROSTER_ARGS)
