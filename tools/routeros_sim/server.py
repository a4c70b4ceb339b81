"""The network side: one thread per connection, login, replies, tags, stats, state file.

Simulator-only commands (/captiva-sim/..., never counted in the stats): sim_commands.py.
The Disconnect/CoA listener (RFC 5176) is in coa.py, the hotspot (--hotspot-listen,
--hotspot-tls-listen) in hotspot.py and hotspot_http.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import ssl
import sys
import threading
from pathlib import Path

from . import coa, hotspot, hotspot_http, model, protocol, sim_commands

WRITE_VERBS = {"add", "set", "remove", "unset", "import"}
COUNTERS = ("sentences", "writes", "prints", "logins", "connections")
# Fields RouterOS prints only to API users whose group has the "sensitive" policy.
SENSITIVE_FIELDS = {"/ip/hotspot/user": {"password"}, "/radius": {"secret"},
                    "/ppp/secret": {"password"}}
PRINT_ARGS = {".proplist", "count-only", "detail", "without-paging", "terse", "follow",
              "follow-only"}


class Router:
    """State shared by every connection; one lock serialises commands like RouterOS does."""

    def __init__(self, user: str, password: str, state_file: Path | None = None,
                 send_empty: bool = True, sensitive: bool = True):
        self.user = user
        self.sensitive = sensitive
        self.password = password
        self.state_file = state_file
        self.send_empty = send_empty
        self.lock = threading.RLock()
        self.menus = model.build_menus(version=model.ROUTEROS_VERSION if send_empty
                                       else model.ROUTEROS_VERSION_NO_EMPTY)
        self.stats = dict.fromkeys(COUNTERS, 0)
        self._dirty = threading.Event()
        self.coa: coa.CoaListener | None = None
        self.hotspot: hotspot.Hotspot | None = None
        if state_file and state_file.exists():
            saved = json.loads(state_file.read_text(encoding="utf-8"))
            for path, data in saved.get("menus", {}).items():
                if path in self.menus:
                    self.menus[path].load(data)
            # A restart is a reboot: hotspot sessions and cookies do not survive it (and no
            # Accounting Stop is sent for them).
            self.menus["/ip/hotspot/active"].rows = []
            self.menus["/ip/hotspot/cookie"].rows = []

    # -- persistence: written in the background, at most a few times a second ---------------
    def save(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            data = {"menus": {p: m.dump() for p, m in self.menus.items()
                              if not m.read_only}}
            self._dirty.clear()
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.state_file)

    def mark_dirty(self) -> None:
        self._dirty.set()

    def saver(self, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            if self._dirty.is_set():
                self.save()

    # -- commands ------------------------------------------------------------------------------
    def execute(self, command: str, args: dict[str, str], queries: list[str]):
        """Run one logged-in command. Returns (rows, ret); raises model.Trap."""
        if command.startswith("/captiva-sim/"):
            return self._sim_command(command, args)
        menu_path, _, verb = command.rpartition("/")
        with self.lock:
            self.stats["sentences"] += 1
            menu = self.menus.get(menu_path)
            if menu is None:
                raise model.Trap("no such command prefix")
            if verb in WRITE_VERBS:
                self.stats["writes"] += 1
            if verb in ("print", "getall"):
                self.stats["prints"] += 1
                return self._print(menu, args, queries)
            if queries:
                raise model.Trap("queries are only allowed with print")
            if menu.path == "/ip/hotspot/profile" and verb in ("add", "set"):
                self._check_certificate(args.get("ssl-certificate"))
            if verb == "import" and menu.path == "/certificate":
                row = menu.import_file(args, self.menus["/file"])
                self._dirty.set()
                return [row], None
            if verb == "add":
                ret = menu.add(args)
            elif verb == "set":
                menu.set(args)
                ret = None
            elif verb == "unset":
                menu.unset(args)
                ret = None
            elif verb == "remove":
                before = list(menu.rows)
                menu.remove(args)
                ret = None
                if menu.path == "/ip/hotspot/active" and self.hotspot is not None:
                    # A hotspot session removed (RouterOS logs it out): its Accounting Stop.
                    self.hotspot.ended([r for r in before if r not in menu.rows], "admin-reset")
            else:
                raise model.Trap("no such command")
            self._dirty.set()
            return [], ret

    def _check_certificate(self, name: str | None) -> None:
        """ssl-certificate names a certificate of /certificate (or none), as RouterOS checks."""
        if name is not None and name != "none" and (
                self.menus["/certificate"].by_name(name) is None):
            raise model.Trap("input does not match any value of ssl-certificate")

    def _print(self, menu: model.Menu, args: dict[str, str], queries: list[str]):
        unknown = set(args) - PRINT_ARGS
        if unknown:
            raise model.Trap(f"unknown parameter {sorted(unknown)[0]}")
        rows = [r for r in menu.print() if model.query_matches(queries, r)]
        if not self.sensitive and menu.path in SENSITIVE_FIELDS:
            # Like RouterOS for an API user without the "sensitive" policy: secrets are not
            # printed at all (not even as empty values).
            hidden = SENSITIVE_FIELDS[menu.path]
            rows = [{k: v for k, v in r.items() if k not in hidden} for r in rows]
        if "count-only" in args:
            return [], str(len(rows))
        if ".proplist" in args:
            keep = [k for k in args[".proplist"].split(",") if k]
            rows = [{k: r[k] for k in keep if k in r} for r in rows]
        return rows, None

    def _sim_command(self, command: str, args: dict[str, str]):
        with self.lock:
            return sim_commands.run(self, command, args)


class Connection(socketserver.BaseRequestHandler):
    server: SimServer

    def setup(self) -> None:
        self.router = self.server.router
        self.sock = self.request
        self.logged_in = False
        self.pending: dict[str | None, bool] = {}  # tags of `print follow` commands running
        self.send_lock = threading.Lock()
        with self.router.lock:
            self.router.stats["connections"] += 1

    def read_exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def send(self, *sentences: list[str]) -> None:
        data = b"".join(protocol.encode_sentence(s) for s in sentences)
        with self.send_lock:
            self.sock.sendall(data)

    def handle(self) -> None:
        if self.server.tls_context is not None:
            try:
                self.sock = self.server.tls_context.wrap_socket(self.sock, server_side=True)
            except (ssl.SSLError, OSError):
                return
        try:
            while True:
                words = protocol.read_sentence(self.read_exactly)
                if words and not self.dispatch(words):
                    return
        except (ConnectionError, OSError, protocol.ProtocolError):
            return

    def dispatch(self, words: list[str]) -> bool:
        """Handle one sentence; False closes the connection."""
        command, args, queries, tag = words[0], {}, [], None
        for word in words[1:]:
            if word.startswith(".tag="):
                tag = word[5:]
            elif word.startswith("="):
                name, _, value = word[1:].partition("=")
                args[name] = value
            elif word.startswith("?"):
                queries.append(word)
            else:
                self.reply(tag, ["!trap", "=category=0", "=message=no such command or directory"],
                           ["!done"])
                return True
        if command == "/login":
            return self.login(args, tag)
        if not self.logged_in:
            self.send(["!fatal", "not logged in"])
            return False
        if command == "/quit":
            self.send(["!fatal", "session terminated on request"])
            return False
        if command == "/cancel":
            return self.cancel(args, tag)
        try:
            rows, ret = self.router.execute(command, args, queries)
        except model.Trap as trap:
            words = ["!trap", f"=category={trap.category}", f"=message={trap.message}"]
            self.reply(tag, words, ["!done"])
            return True
        sentences = [["!re", *(f"={k}={v}" for k, v in row.items())] for row in rows]
        if "follow" in args or "follow-only" in args:
            # Rows so far, then the command stays open until /cancel (changes are not streamed).
            self.reply(tag, *sentences)
            self.pending[tag] = True
            return True
        if not rows and ret is None and self.router.send_empty and command.endswith("/print"):
            sentences.append(["!empty"])
        sentences.append(["!done"] if ret is None else ["!done", f"=ret={ret}"])
        self.reply(tag, *sentences)
        return True

    def reply(self, tag: str | None, *sentences: list[str]) -> None:
        if tag is not None:
            sentences = tuple([*s, f".tag={tag}"] for s in sentences)
        self.send(*sentences)

    def login(self, args: dict[str, str], tag: str | None) -> bool:
        with self.router.lock:
            self.router.stats["sentences"] += 1
            self.router.stats["logins"] += 1
        if args.get("name") == self.router.user and args.get("password") == self.router.password:
            self.logged_in = True
            self.reply(tag, ["!done"])
        else:
            self.reply(tag, ["!trap", "=message=invalid user name or password (6)"], ["!done"])
        return True

    def cancel(self, args: dict[str, str], tag: str | None) -> bool:
        target = args.get("tag")
        targets = list(self.pending) if target is None else [target]
        for name in targets:
            if name not in self.pending:
                self.reply(tag, ["!trap", "=message=unknown command tag"], ["!done"])
                return True
        for name in targets:
            del self.pending[name]
            self.reply(name, ["!trap", "=category=2", "=message=interrupted"], ["!done"])
        self.reply(tag, ["!done"])
        return True


class SimServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], router: Router,
                 tls_context: ssl.SSLContext | None = None):
        self.router = router
        self.tls_context = tls_context
        super().__init__(address, Connection)


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="routeros-sim", description="RouterOS API server for tests and the lab.")
    parser.add_argument("--listen", default="127.0.0.1:8728", help="HOST:PORT (port 0: any)")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--state", type=Path, help="JSON file: loaded at start, kept up to date")
    parser.add_argument("--tls-cert", help="PEM certificate: serve API-SSL instead of API")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--identity", default="MikroTik", help="/system/identity name")
    parser.add_argument("--no-empty", action="store_true",
                        help="behave like RouterOS < 7.18: no !empty for empty prints")
    parser.add_argument("--no-sensitive", action="store_true",
                        help="the API user's group lacks the 'sensitive' policy: passwords "
                             "and secrets are not printed")
    parser.add_argument("--ready-file", type=Path,
                        help="write the bound HOST:PORT here once listening")
    parser.add_argument("--coa-mode", choices=coa.MODES, default="normal",
                        help="silent: drop every request; nak: NAK every request")
    parser.add_argument("--coa-nak-cause", type=int, default=coa.PROHIBITED,
                        help="Error-Cause of --coa-mode nak (default 501)")
    parser.add_argument("--coa-time-window", type=int, default=300,
                        help="seconds an Event-Timestamp may differ from the clock")
    parser.add_argument("--coa-delay", type=float, default=0.0,
                        help="seconds before each answer (a slow router)")
    # The other listeners: each its --NAME-listen and the file its bound address goes to.
    for name, what, where in (
            ("coa", "the Disconnect listener", "the RADIUS Disconnect/CoA listener (default: "
             "the API's host, port 3799; port 0: any; 'off': none)"),
            ("hotspot", "the hotspot login", "the hotspot's HTTP login (port 0: any; default: "
             "none), authenticating against the /radius entries"),
            ("hotspot-tls", "the HTTPS login", "the hotspot's HTTPS login, with the "
             "certificate the hotspot profile's ssl-certificate names (port 0: any)")):
        parser.add_argument(f"--{name}-listen", default=None, help=f"HOST:PORT of {where}")
        parser.add_argument(f"--{name}-ready-file", type=Path,
                            help=f"write {what}'s bound HOST:PORT here")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")

    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    router = Router(args.user, args.password, args.state, send_empty=not args.no_empty,
                    sensitive=not args.no_sensitive)
    if args.identity != "MikroTik" and not (args.state and args.state.exists()):
        router.menus["/system/identity"].rows[0]["name"] = args.identity
    server = SimServer(parse_listen(args.listen), router, tls)
    host, port = server.server_address[:2]
    bound = f"{host}:{port}"
    if args.coa_listen != "off":
        coa_address = parse_listen(args.coa_listen) if args.coa_listen else (host, 3799)
        router.coa = coa.CoaListener(router, coa_address, mode=args.coa_mode,
                                     nak_cause=args.coa_nak_cause,
                                     time_window=args.coa_time_window,
                                     delay=args.coa_delay)
        coa_host, coa_port = router.coa.address
        threading.Thread(target=router.coa.serve, daemon=True).start()
        print(f"routeros-sim Disconnect/CoA listener on {coa_host}:{coa_port} "
              f"(answers while /radius/incoming accept=yes)", flush=True)
        if args.coa_ready_file:
            args.coa_ready_file.write_text(f"{coa_host}:{coa_port}", encoding="utf-8")
    if args.hotspot_listen or args.hotspot_tls_listen:
        router.hotspot = hotspot.Hotspot(router, host)
        servlet = hotspot_http.Servlet(
            router.hotspot, parse_listen(args.hotspot_listen or "127.0.0.1:0"),
            parse_listen(args.hotspot_tls_listen) if args.hotspot_tls_listen else None)
        router.hotspot.servlet = servlet
        for address, ready, scheme in ((servlet.address, args.hotspot_ready_file, "http"),
                                       (servlet.tls_address, args.hotspot_tls_ready_file,
                                        "https")):
            if address is None:
                continue
            print(f"routeros-sim hotspot login on {scheme}://{address[0]}:{address[1]}/login",
                  flush=True)
            if ready:
                ready.write_text(f"{address[0]}:{address[1]}", encoding="utf-8")
    if args.ready_file:
        args.ready_file.write_text(bound, encoding="utf-8")
    print(f"routeros-sim listening on {bound} ({'api-ssl' if tls else 'api'})", flush=True)
    stop = threading.Event()
    threading.Thread(target=router.saver, args=(stop,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if router.coa is not None:
            router.coa.close()
        if router.hotspot is not None:
            router.hotspot.servlet.close()
            router.hotspot.close()
        router.save()
        server.server_close()
    return 0


def _terminate(signum, frame):  # pragma: no cover - signal handler
    raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
