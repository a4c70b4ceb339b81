# The collection captiva.campus (galaxy.yml): build, sanity, a new campus's inventory.
# Included by the top-level Makefile (which defines VENV, BIN).
# docs/collection.md says how a campus installs and uses the collection.

COLLECTION_DIR ?= build/collection
COLLECTION_VERSION = $(shell sed -n 's/^version: *//p' galaxy.yml)
COLLECTION_TARBALL = $(COLLECTION_DIR)/captiva-campus-$(COLLECTION_VERSION).tar.gz
SANITY_DIR ?= build/sanity
SANITY_ARGS ?=
# pep8 (pycodestyle's defaults) is not run: the project's style is ruff's (make lint, line length
# 100), whose accepted continuation lines pycodestyle's visual-indent rules E127/E128 refuse.
SANITY_SKIP ?= --skip-test pep8
# The pip ansible-test (ansible-core 2.19) bootstraps into its test virtualenvs, and where it
# caches the bootstrap script it would otherwise download (docs/collection.md).
ANSIBLE_TEST_PIP ?= 24.2
ANSIBLE_TEST_GET_PIP = $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py
NAME ?=
DIR ?= inventories/$(NAME)

.PHONY: collection sanity new-inventory

## collection: build the collection's tarball (build/collection/captiva-campus-<version>.tar.gz)
collection: venv
	$(BIN)/ansible-galaxy collection build --force --output-path $(COLLECTION_DIR) .

## sanity: ansible-test sanity on the built collection, installed under build/sanity (docs/collection.md)
sanity: collection
	@[ -f $(ANSIBLE_TEST_GET_PIP) ] || install -D -m 0644 tools/ansible_test_get_pip.py $(ANSIBLE_TEST_GET_PIP)
	rm -rf $(SANITY_DIR)
	$(BIN)/ansible-galaxy collection install --force -p $(SANITY_DIR) $(COLLECTION_TARBALL)
	cd $(SANITY_DIR)/ansible_collections/captiva/campus && \
	  $(abspath $(BIN))/ansible-test sanity --python 3.11 --color no $(SANITY_SKIP) $(SANITY_ARGS)

## new-inventory NAME=... [DIR=inventories/NAME]: a skeleton inventory; make validate names each placeholder left
new-inventory: venv
	@[ -n "$(NAME)" ] || { echo "new-inventory: set NAME=<campus> (also its vault id)" >&2; exit 2; }
	$(BIN)/python -m captiva.onboarding.skeleton $(NAME) --directory $(DIR)
