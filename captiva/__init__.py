"""Captiva's runtime: the students' status portal, the quota jobs and the controller tools."""

# Captiva's version, as galaxy.yml names the collection's (tests/unit/test_version.py keeps
# them equal; pyproject.toml reads it from here). Every command answers --version with it and
# the portal's /healthz reports it.
__version__ = "1.0.0"
