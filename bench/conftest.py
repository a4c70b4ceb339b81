"""Benchmarks reuse the test fixtures (real PostgreSQL) and helpers."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The repository is the collection captiva.campus (collections/ansible_collections).
sys.path.insert(0, str(ROOT / "collections"))
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from pg_fixtures import pg_server, radius_db  # noqa: E402,F401
