"""CSV import benchmark: 5,000 registrar rows into a copy of the example inventory.

    .venv/bin/python bench/import_bench.py [--rows 5000]

Baseline, in the same process: the round-trip YAML load and dump of the resulting users file,
the cost any comment-preserving merge pays. Figures: the first import (new users, passwords
hashed with sha512-crypt on every core), the same import again (nothing to change), each as
wall time and CPU time (this process and its hashing workers), with the ratio to the
baseline. Floor: 5,000 rows in seconds, i.e. under 60 s wall on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from captiva.onboarding import inventory  # noqa: E402
from captiva.onboarding.cli import main  # noqa: E402

FLOOR_SECONDS = 60.0


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn):
    wall, used = time.perf_counter(), cpu()
    result = fn()
    return result, time.perf_counter() - wall, cpu() - used


def main_bench() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="captiva-import-bench-"))
    try:
        inv = work / "example"
        shutil.copytree(ROOT / "inventories" / "example", inv)
        csv = work / "rentree.csv"
        lines = ["Matricule;Prénom;Nom;Courriel"]
        lines += [f"STU26{i:05d};Prénom{i};Nom{i};s{i}@etu.univ.test" for i in range(args.rows)]
        csv.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
        command = ["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rc, first_wall, first_cpu = timed(lambda: main(command))
            assert rc == 0
            rc, again_wall, again_cpu = timed(lambda: main(command))
            assert rc == 0
        users = inv / "group_vars" / "all" / "users.yml"
        _, base_wall, base_cpu = timed(lambda: inventory.dump(inventory.load(users), True))
    finally:
        shutil.rmtree(work)
    print(f"CSV import, {args.rows} rows (example inventory, hashed storage)")
    print(f"  baseline: round-trip YAML load+dump of the {args.rows + 60}-user file: "
          f"{base_wall:6.2f} s wall, {base_cpu:6.2f} s CPU")
    for name, wall, used in (("first import (all new)", first_wall, first_cpu),
                             ("same import again (no-op)", again_wall, again_cpu)):
        print(f"  {name:28s} {wall:6.2f} s wall, {used:6.2f} s CPU "
              f"({wall / base_wall:4.1f}x baseline), {args.rows / wall:7.0f} rows/s")
    ok = first_wall < FLOOR_SECONDS
    print(f"  floor: {args.rows} rows under {FLOOR_SECONDS:.0f} s: "
          f"{'met' if ok else 'MISSED'} ({first_wall:.1f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main_bench())
