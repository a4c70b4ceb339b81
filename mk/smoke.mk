# The smoke test of a deployment (docs/deploy.md, "Smoke test"). Included by the top-level
# Makefile.

.PHONY: smoke

## smoke INVENTORY=...: read-only checks of a deployment: routers read back, /healthz, a RADIUS login, the Disconnect listeners
smoke: venv vault-password
	$(PLAYBOOK) playbooks/smoke.yml
