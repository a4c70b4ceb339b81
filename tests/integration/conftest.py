"""Integration tests share a real PostgreSQL 15 (see pg_fixtures.py)."""

import sys
from pathlib import Path

# pg_fixtures sits next to this file; make it importable however pytest was started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_fixtures import empty_db, pg_server, radius_db  # noqa: E402,F401
