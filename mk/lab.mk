# The lab (systemd containers on podman) and molecule: see docs/lab.md.
# Included by the top-level Makefile; on its own: make -f mk/lab.mk <target>.

VENV ?= .venv
LAB := CAPTIVA_VENV=$(VENV) lab/lab
# molecule subcommand for `make molecule`, e.g. make molecule MOLECULE_CMD=converge
MOLECULE_CMD ?= test

.PHONY: lab lab-deps lab-image lab-hosts lab-converge lab-info lab-destroy lab-clean-image \
	venv molecule

## lab: the whole lab from a fresh Debian 12 (as root): packages, venv, image, hosts, site.yml
lab:
	@$(LAB) up

## lab-deps: Debian packages and /etc/containers/containers.conf, only what is missing
lab-deps:
	@$(LAB) deps

## venv: the project virtualenv from requirements.txt (reinstalled when requirements.txt changes)
venv: $(VENV)/.captiva-requirements.stamp

$(VENV)/.captiva-requirements.stamp: requirements.txt
	@$(LAB) venv

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
