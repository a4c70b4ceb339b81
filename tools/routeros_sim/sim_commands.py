"""Commands only the simulator has (``/captiva-sim/...``), run under the router's lock and
never counted in its statistics (docs/routeros.md, "The simulator", lists them):

  stats/print, stats/reset            API counters
  active/add                          inject a hotspot session (no RADIUS, no accounting)
  active/print                        /ip/hotspot/active with the fields RouterOS shows
                                      elsewhere: session-id, rate-limit, profile
  active/expire =user= [=cause=]      end U's sessions as a timer would (default cause
                                      session-timeout; idle-timeout, lost-carrier, ...)
  active/traffic =user= [=mac-address=] [=bytes-in=] [=bytes-out=] [=packets-in=]
                 [=packets-out=]      count traffic (may reach a limit: the session ends)
  accounting/interim [=user=]         send an Interim-Update now
  accounting/print                    pending: the Accounting-Requests queued or awaiting
                                      their answer (0: all answered, or given up)
  hotspot/print                       the hotspot logins so far
  radius/print                        the RADIUS client's counters
  coa/print, coa/set                  the Disconnect/CoA listener
"""

from __future__ import annotations

from . import coa, model


def run(router, command: str, args: dict[str, str]):
    """(rows, ret) of one simulator command; model.Trap when it fails."""
    if command == "/captiva-sim/stats/print":
        return [{k: str(v) for k, v in router.stats.items()}], None
    if command == "/captiva-sim/stats/reset":
        router.stats = dict.fromkeys(router.stats, 0)
        return [], None
    active = router.menus["/ip/hotspot/active"]
    if command == "/captiva-sim/active/add":
        ret = active.add(args, internal=True)
        router.mark_dirty()
        return [], ret
    if command == "/captiva-sim/active/print":
        return [dict(row) for row in active.rows], None
    if command.startswith("/captiva-sim/coa/"):
        if router.coa is None:
            raise model.Trap("the Disconnect listener is off (--coa-listen off)")
        if command == "/captiva-sim/coa/print":
            return [router.coa.settings()], None
        if command == "/captiva-sim/coa/set":
            return _coa_set(router.coa, args)
    hotspot = router.hotspot
    hotspot_commands = ("/captiva-sim/hotspot/print", "/captiva-sim/active/expire",
                        "/captiva-sim/active/traffic", "/captiva-sim/accounting/interim",
                        "/captiva-sim/accounting/print", "/captiva-sim/radius/print")
    if command in hotspot_commands and hotspot is None:
        raise model.Trap("the hotspot is off (no --hotspot-listen)")
    if command == "/captiva-sim/hotspot/print":
        return [dict(entry) for entry in hotspot.logins], None
    if command == "/captiva-sim/radius/print":
        return [{k: str(v) for k, v in hotspot.radius.stats.items()}], None
    if command == "/captiva-sim/active/expire":
        return [], str(hotspot.expire(args.get("user", ""),
                                      args.get("cause", "session-timeout")))
    if command == "/captiva-sim/active/traffic":
        unknown = set(args) - {"user", "mac-address", "bytes-in", "bytes-out", "packets-in",
                               "packets-out"}
        if unknown or "user" not in args:
            raise model.Trap(f"unknown parameter {sorted(unknown)[0]}" if unknown
                             else "missing value(s) of argument(s) user")
        return [], str(hotspot.traffic(args))
    if command == "/captiva-sim/accounting/interim":
        return [], str(hotspot.interim_now(args.get("user")))
    if command == "/captiva-sim/accounting/print":
        return [{"pending": str(hotspot.accountant.pending())}], None
    raise model.Trap("no such command")


def _coa_set(listener, args: dict[str, str]):
    unknown = set(args) - {"mode", "nak-cause", "time-window", "delay", "reset"}
    if unknown:
        raise model.Trap(f"unknown parameter {sorted(unknown)[0]}")
    if "mode" in args:
        if args["mode"] not in coa.MODES:
            raise model.Trap(f"value of mode is invalid: {args['mode']!r}")
        listener.mode = args["mode"]
    try:
        if "nak-cause" in args:
            listener.nak_cause = int(args["nak-cause"])
        if "time-window" in args:
            listener.time_window = int(args["time-window"])
        if "delay" in args:
            listener.delay = float(args["delay"])
    except ValueError as exc:
        raise model.Trap(f"invalid number: {exc}") from exc
    if args.get("reset") in ("yes", "true"):
        listener.stats = dict.fromkeys(coa.COUNTERS, 0)
    return [], None
