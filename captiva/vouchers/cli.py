"""``captiva-vouchers``: print a voucher batch's cards (PDF) or export it for mail merge (CSV);
revoke a code at once.

    captiva-vouchers print --roster inventories/prod/group_vars/all \\
        --vault-password-file ~/.captiva-vault --batch portes-ouvertes-2026 \\
        --wifi-name CAMPUS-INVITES --pdf cartes.pdf --csv cartes.csv [--only 17 --only 40-60]

The batches, profiles, sites and users are read from the roster's YAML files (files or
directories, later ones override earlier ones, as group_vars do) and validated exactly as
``make plan`` validates them. The secret the codes derive from is ``captiva_voucher_secret``:
vaulted in those files (give ``--vault-password-file``), or from ``--secret-file`` or the
environment variable ``CAPTIVA_VOUCHER_SECRET``. Codes are never logged.

    captiva-vouchers revoke K7HM-3XPW-9H --reason "photographed and shared"

runs on the quota jobs' host (captiva.vouchers.revoke): the code is refused from its next
login and its live sessions get a Disconnect-Request.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Any

from captiva.runtime import cli, db, jobs_config
from captiva.vouchers import ROOT, cards, compact, module_utils

SECRET_ENV = "CAPTIVA_VOUCHER_SECRET"  # noqa: S105 - the variable's name
DEFAULTS_FILE = ROOT / "group_vars" / "captiva_defaults.yml"


class Vaulted(str):
    """A ``!vault`` value: the ciphertext, decrypted only on demand."""


def _yaml_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!vault", lambda loader, node: Vaulted(loader.construct_scalar(node)))
    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    return Loader


def roster_files(paths: list[str]) -> list[str]:
    files = [str(DEFAULTS_FILE)] if DEFAULTS_FILE.exists() else []
    for path in paths:
        target = Path(path)
        if target.is_dir():
            files += sorted(str(p) for p in target.rglob("*") if p.suffix in (".yml", ".yaml"))
        else:
            files.append(str(target))
    return files


def load_variables(files: list[str], vault_password: bytes | None) -> dict[str, Any]:
    import yaml

    variables: dict[str, Any] = {}
    for name in files:
        text = Path(name).read_text(encoding="utf-8")
        if text.startswith("$ANSIBLE_VAULT"):
            text = _decrypt(text, vault_password, name)
        data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        if isinstance(data, dict):
            variables.update(data)
    return variables


def _decrypt(ciphertext: str, vault_password: bytes | None, where: str) -> str:
    if vault_password is None:
        raise SystemExit(f"{where}: vault-encrypted: give --vault-password-file")
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(vault_password))])
    try:
        return vault.decrypt(ciphertext.strip()).decode()
    except Exception as exc:  # noqa: BLE001 - ansible raises AnsibleError subclasses
        raise SystemExit(f"{where}: cannot decrypt: {exc}") from None


def resolve_secret(variables, args, vault_password) -> str | None:
    if args.secret_file:
        return Path(args.secret_file).read_text(encoding="utf-8").strip()
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    value = variables.get("captiva_voucher_secret")
    if isinstance(value, Vaulted):
        return _decrypt(value, vault_password, "captiva_voucher_secret")
    return value


def validated_batches(variables: dict[str, Any], files: list[str]) -> list[dict]:
    mu = module_utils()
    sites = {s.get("name"): s.get("timezone") for s in variables.get("captiva_sites") or []
             if isinstance(s, dict)}
    batches, errors = mu.vouchers.validate_batches(
        variables,
        profiles=[p.get("name") for p in variables.get("captiva_profiles") or []
                  if isinstance(p, dict)] + ["captiva-default"],
        sites=sites,
        usernames=[u.get("username") for u in variables.get("captiva_users") or []
                   if isinstance(u, dict) and isinstance(u.get("username"), str)],
        default_timezone=variables.get("captiva_timezone") or "UTC",
        default_language=variables.get("captiva_language") or "fr",
    )
    if errors:
        locator = mu.roster_io.Locator(files, display_root=os.getcwd())
        for error in errors:
            print(error.render(locator), file=sys.stderr)
        raise SystemExit(f"{len(errors)} voucher error(s)")
    return batches


def login_url_template(variables, batch, given: str | None) -> str:
    """The cards' URL: the given one when it fits the routers' login methods
    (captiva_hotspot_login_by), else the login page of the batch's first router with a
    hotspot dns_name, the code in its fragment."""
    login_by = variables.get("captiva_hotspot_login_by") or []
    try:
        if given:
            if "{code}" not in given:
                raise SystemExit("--login-url must contain {code}")
            for warning in cards.login_url_warnings(given, login_by):
                print(f"warning: --login-url: {warning}", file=sys.stderr)
            return given
        for site in variables.get("captiva_sites") or []:
            if batch["sites"] and site.get("name") not in batch["sites"]:
                continue
            for router in site.get("routers") or []:
                dns_name = (router.get("hotspot") or {}).get("dns_name")
                if dns_name:
                    return cards.default_login_url(dns_name, login_by)
    except cards.LoginMethodError as exc:
        raise SystemExit(f"{'--login-url' if given else 'QR codes'}: {exc}") from None
    raise SystemExit("no router of the batch's sites has hotspot.dns_name: give --login-url "
                     "(e.g. 'https://wifi.campus.example/login#code={code}')")


def command_print(args) -> int:
    vault_password = None
    if args.vault_password_file:
        vault_password = Path(args.vault_password_file).read_bytes().strip()
    files = roster_files(args.roster)
    variables = load_variables(files, vault_password)
    secret = resolve_secret(variables, args, vault_password)
    variables["captiva_voucher_secret"] = secret
    by_name = {b["name"]: b for b in validated_batches(variables, files)}
    if args.batch not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        raise SystemExit(f"unknown batch {args.batch!r} (batches: {known})")
    batch = by_name[args.batch]
    try:
        indexes = cards.select(batch, args.only)
    except cards.SelectionError as exc:
        raise SystemExit(str(exc)) from None
    login_url = login_url_template(variables, batch, args.login_url)
    if not (args.pdf or args.csv):
        raise SystemExit("nothing to write: give --pdf and/or --csv")
    if args.pdf:
        from captiva.vouchers import pdf  # fpdf2 and segno: only to print

        try:
            layout = pdf.load_layout(args.layout)
            fields = [cards.card_fields(batch, i, wifi_name=args.wifi_name, login_url=login_url,
                                        texts=layout.get("texts") or {}, where=layout["source"])
                      for i in indexes]
            document = pdf.render(fields, layout, title=f"Captiva vouchers {batch['name']}")
        except pdf.LayoutError as exc:
            raise SystemExit(str(exc)) from None
        Path(args.pdf).write_bytes(document)
    if args.csv:
        rows = cards.csv_rows(batch, indexes, wifi_name=args.wifi_name, login_url=login_url)
        with open(args.csv, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=cards.CSV_COLUMNS,
                                    delimiter=args.csv_delimiter)
            writer.writeheader()
            writer.writerows(rows)
    print(f"batch {batch['name']}: {len(indexes)} voucher(s) written"
          + (f" to {args.pdf}" if args.pdf else "") + (f" and {args.csv}" if args.csv else ""))
    return 0


def command_revoke(args) -> int:
    from captiva import authz
    from captiva.vouchers.revoke import Refused, revoke

    config = jobs_config.load(args.config)
    code = compact(args.code)
    # The actor of the audit row: the operating-system account running this (os:<login>).
    actor = authz.current_os_actor()
    with db.connect(config.dsn, "captiva-vouchers-revoke") as conn:
        try:
            result = revoke(conn, config, code, args.reason, actor=actor)
        except Refused as exc:
            raise SystemExit(f"{args.code}: refused: {exc}") from None
    if not result["known"]:
        raise SystemExit(f"{args.code}: not a voucher code")
    print(f"{args.code}: " + ("revoked" if result["revoked"] else "already revoked")
          + f"; {len(result['sessions'])} live session(s)"
          + (f", {result['awaiting_stop']} already disconnected (awaiting the router's Stop)"
             if result["awaiting_stop"] else ""))
    failed = 0
    for session in result["sessions"]:
        print(f"  disconnect session {session['session_id']} on {session['router']}: "
              f"{session['result']}" + (f" ({session['detail']})" if session["detail"] else ""))
        failed += session["result"] != "ack"
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    top = cli.parser("captiva-vouchers", __doc__.split("\n", maxsplit=1)[0])
    commands = top.add_subparsers(dest="command", required=True)
    p = commands.add_parser("print", help="write a batch's cards (PDF) and/or a CSV")
    p.add_argument("--roster", action="append", required=True,
                   help="a roster YAML file or directory (repeat; later ones win)")
    p.add_argument("--batch", required=True, help="the batch's name")
    p.add_argument("--wifi-name", required=True, help="the WiFi network name printed on cards")
    p.add_argument("--pdf", help="write the cards to this PDF file")
    p.add_argument("--csv", help="write a CSV for mail merge to this file")
    p.add_argument("--csv-delimiter", default=",", help="',' (default) or ';' for Excel (fr)")
    p.add_argument("--only", action="append", default=[],
                   help="reprint: an index (17), a range (10-20) or a code (repeat)")
    p.add_argument("--layout", help="a card layout file (default: the built-in one)")
    p.add_argument("--login-url", help="the cards' URL with {code}, checked against "
                                       "captiva_hotspot_login_by (default: the login page of "
                                       "the batch's router, https://<hotspot dns_name>/login"
                                       "#code={code})")
    p.add_argument("--vault-password-file", help="to decrypt vaulted roster values")
    p.add_argument("--secret-file", help=f"file holding the voucher secret (or ${SECRET_ENV})")
    p.set_defaults(run=command_print)
    r = commands.add_parser("revoke", help="revoke a code now and disconnect its sessions "
                                           "(on the quota jobs' host)")
    r.add_argument("code", help="the code, as printed or compact")
    r.add_argument("--reason", default="", help="recorded with the revocation")
    cli.add_config(r, str(jobs_config.DEFAULT_PATH),
                   "the jobs' configuration (database, routers' secrets)")
    r.set_defaults(run=command_revoke)
    return top


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cli.start_logging()
    return args.run(args)
