"""Benchmarks reuse the test fixtures (real PostgreSQL) and helpers."""

import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[1]
ansible.module_utils.__path__.append(str(ROOT / "plugins" / "module_utils"))
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from pg_fixtures import pg_server, radius_db  # noqa: E402,F401
