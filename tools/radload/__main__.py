"""Command line: offer RADIUS load to a server and report rate, latency, loss and server CPU.

    .venv/bin/python tools/radload auth --server 127.0.0.1:1812 --secret-file SECRET \\
        --users 50000 --user-format 'STU{:06d}' --password-format 'pw-{}' --count 20000 \\
        --rate 1000 --cpu-pid freeradius=$(pidof freeradius) \\
        --cpu-cgroup db=$(podman inspect ...)    # or --cpu-container db=captiva-lab-db

The secret is read from a file (never from the command line, which other users can see).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from radload import CpuSource, Workload, container_cgroup, run, snapshot, spent  # noqa: E402


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    return host, int(port)


def _named(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="radload", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("auth", "acct"),
                        help="Access-Requests, or accounting Interim-Updates")
    parser.add_argument("--server", type=_address, required=True, help="HOST:PORT")
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--users", type=int, required=True, help="distinct users to cycle")
    parser.add_argument("--user-format", default="STU{:06d}")
    parser.add_argument("--password-format", default="pw-{}",
                        help="auth: password of user i; acct: its Acct-Session-Id")
    parser.add_argument("--count", type=int, default=10000, help="requests in total")
    parser.add_argument("--rate", type=float, help="offered requests/s (default: closed loop)")
    parser.add_argument("--window", type=int, default=64, help="closed loop: in flight")
    parser.add_argument("--processes", type=int, help="worker processes (default: cores)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds before a request is retransmitted or counted lost")
    parser.add_argument("--retries", type=int, default=0,
                        help="retransmissions of an unanswered request, as a NAS does")
    parser.add_argument("--source", default="127.0.0.1", help="source address to bind")
    parser.add_argument("--nas-ip", default="127.0.0.1")
    parser.add_argument("--chap", action="store_true", help="auth: CHAP instead of PAP")
    parser.add_argument("--cpu-pid", type=_named, action="append", default=[],
                        metavar="NAME=PID", help="measure this process tree's CPU")
    parser.add_argument("--cpu-cgroup", type=_named, action="append", default=[],
                        metavar="NAME=PATH", help="measure this cgroup's CPU")
    parser.add_argument("--cpu-container", type=_named, action="append", default=[],
                        metavar="NAME=CONTAINER", help="measure a podman container's CPU")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    secret = args.secret_file.read_bytes().strip()
    if not secret:
        sys.exit(f"radload: {args.secret_file}: empty secret")
    sources = ([CpuSource(name, pid=int(pid)) for name, pid in args.cpu_pid]
               + [CpuSource(name, cgroup=Path(path)) for name, path in args.cpu_cgroup]
               + [CpuSource(name, cgroup=container_cgroup(container))
                  for name, container in args.cpu_container])
    users = [(args.user_format.format(i), args.password_format.format(i))
             for i in range(args.users)]
    work = Workload(kind=args.kind, server=args.server, secret=secret, users=users,
                    count=args.count, rate=args.rate, window=args.window,
                    timeout=args.timeout, retries=args.retries, source=args.source,
                    nas_ip=args.nas_ip, chap=args.chap, event_timestamp=int(time.time()) - 86400)
    before = snapshot(sources)
    report = run(work, args.processes)
    used = spent(before, snapshot(sources))
    print(report.summary())
    if sources and report.answered:
        parts = ", ".join(f"{name} {seconds / report.answered * 1e3:.3f} ms"
                          for name, seconds in used.items())
        total = sum(used.values()) / report.answered * 1e3
        print(f"server CPU per answered request: {total:.3f} ms ({parts}); "
              f"capacity on 2 cores: {2000 / total:,.0f}/s")
    return 0 if report.answered and not report.lost else 1


if __name__ == "__main__":
    sys.exit(main())
