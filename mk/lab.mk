# The lab (systemd containers on podman) and molecule: see docs/lab.md.
# Included by the top-level Makefile; on its own: make -f mk/lab.mk <target>.

VENV ?= .venv
LAB := CAPTIVA_VENV=$(VENV) lab/lab
# molecule subcommand for `make molecule`, e.g. make molecule MOLECULE_CMD=converge
MOLECULE_CMD ?= test

LAB_HA := CAPTIVA_LAB_VARIANT=ha $(LAB)

.PHONY: lab lab-deps lab-image lab-hosts lab-converge lab-info lab-destroy lab-clean-image \
	venv lock molecule lab-ha lab-ha-converge lab-ha-info lab-ha-destroy test-ha test-ha-ci test-ha-ci-keep

## lab: the whole lab from a fresh Debian 12 (as root): packages, venv, image, hosts, site.yml
lab:
	@$(LAB) up

## lab-deps: Debian packages and /etc/containers/containers.conf, only what is missing
lab-deps:
	@$(LAB) deps

## venv: the project virtualenv from requirements.txt (reinstalled when requirements.txt changes)
venv: $(VENV)/.captiva-requirements.stamp

$(VENV)/.captiva-requirements.stamp: requirements.txt lab/lab
	@$(LAB) venv

# pip-compile's options for every lock file: each pinned file's SHA-256, pip and setuptools
# included, no index URL written in.
LOCK := build/pip-tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--no-strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host

## lock: recompile requirements.txt and roles/portal/files/requirements.txt, with hashes, from their .in files
lock:
	@[ -x build/pip-tools/bin/pip-compile ] || { python3 -m venv build/pip-tools && \
	  build/pip-tools/bin/pip install -q --require-hashes -r requirements-pip-tools.txt; }
	$(LOCK) --output-file=requirements.txt requirements.in
	$(LOCK) --output-file=roles/portal/files/requirements.txt roles/portal/files/requirements.in

## lab-image: the base systemd image localhost/captiva-base:<recipe hash> (lab/image/)
lab-image: lab-deps
	@$(LAB) image

## lab-hosts: network captiva-lab and the lab's systemd containers, booted
lab-hosts: lab-image venv
	@$(LAB) hosts

## lab-converge: run playbooks/site.yml on the running lab again
lab-converge:
	@$(LAB) converge

## lab-info: what runs in the lab and how to try it
lab-info:
	@$(LAB) info

## lab-destroy: remove the lab's containers and network (keeps the image)
lab-destroy:
	@$(LAB) destroy

## lab-clean-image: remove the base images too
lab-clean-image: lab-destroy
	@$(LAB) clean-image

## molecule: molecule/default (create, converge, idempotence, verify, destroy) on its own network
molecule: venv lab-deps
	@PATH="$(abspath $(VENV))/bin:$$PATH" molecule $(MOLECULE_CMD)

# The high-availability lab (docs/ha.md): inventories/lab-ha on network captiva-lab-ha
# (10.89.2.0/24), beside the lab and molecule: 3 PostgreSQL hosts under Patroni with etcd,
# 2 FreeRADIUS, the portal and the router. Same image and steps as `make lab`.

## lab-ha: the HA lab (as root): packages, venv, image, its hosts, site.yml on inventories/lab-ha
lab-ha:
	@$(LAB_HA) up

## lab-ha-converge: run playbooks/site.yml on the running HA lab again
lab-ha-converge:
	@$(LAB_HA) converge

## lab-ha-info: what runs in the HA lab and how to try it
lab-ha-info:
	@$(LAB_HA) info

## lab-ha-destroy: remove the HA lab's containers and network (not the default lab's)
lab-ha-destroy:
	@$(LAB_HA) destroy

# tests (files or node ids) `make test-ha` runs; CI's reduced run is make test-ha-ci below.
TEST_HA ?= tests/ha

## test-ha: the failure tests (tests/ha) against the running HA lab (make lab-ha first)
test-ha: venv
	@$(VENV)/bin/pytest $(TEST_HA) -q -s -p no:cacheprovider

# CI's HA run: the HA lab and the PostgreSQL failover test. make test-ha-ci removes the HA lab
# whatever happened, keeping the test's exit status, so a failed run leaves no containers
# behind; .ci/run runs test-ha-ci-keep beside make test and removes the lab after it.
TEST_HA_CI ?= tests/ha/test_postgres_failover.py tests/ha/test_db_proxy.py

## test-ha-ci-keep: the HA lab and the PostgreSQL failover test, the HA lab left running
test-ha-ci-keep:
	@$(MAKE) --no-print-directory lab-ha
	@$(MAKE) --no-print-directory test-ha TEST_HA="$(TEST_HA_CI)"

## test-ha-ci: the HA lab, the PostgreSQL failover test, the HA lab removed (always)
test-ha-ci:
	@status=0; \
	$(MAKE) --no-print-directory test-ha-ci-keep || status=$$?; \
	$(MAKE) --no-print-directory lab-ha-destroy || [ $$status -ne 0 ] || status=1; \
	exit $$status
