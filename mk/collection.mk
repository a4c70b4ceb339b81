# The collection captiva.campus (galaxy.yml): build, sanity, a new campus's inventory.
# Included by the top-level Makefile (which defines VENV, BIN).
# docs/collection.md says how a campus installs and uses the collection.

COLLECTION_DIR ?= build/collection
COLLECTION_VERSION = $(shell sed -n 's/^version: *//p' galaxy.yml)
COLLECTION_TARBALL = $(COLLECTION_DIR)/captiva-campus-$(COLLECTION_VERSION).tar.gz
# Outside this Git tree: inside it, ansible-test would list the tree's files (git ls-files),
# where build/ is ignored, and find no target. One directory per checkout (named after a hash
# of its path), so two checkouts' make sanity never remove each other's tree.
SANITY_DIR ?= $(or $(TMPDIR),/tmp)/captiva-sanity-$(shell printf %s '$(CURDIR)' | sha256sum | cut -c1-12)
SANITY_ARGS ?=
# Not run (docs/collection.md, "Build and sanity"): pep8 (the project's style is ruff's, make
# lint, whose continuation lines pycodestyle's E127/E128 refuse) and pylint (ansible-test's
# configuration forbids `_` as a throwaway name, which the code uses in about 50 places).
SANITY_SKIP ?= --skip-test pep8 --skip-test pylint
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

## sanity: ansible-test sanity on the built collection, installed under $$TMPDIR/captiva-sanity-<checkout> (docs/collection.md)
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
