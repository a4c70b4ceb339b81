"""``python -m captiva.onboarding import-csv``: a registrar's CSV into an inventory's users.

    python -m captiva.onboarding import-csv inventories/example rentree-2026.csv \\
        --promotion L1-INFO-2026 --map username=Matricule --dry-run

Exit status: 0 merged (or nothing to change), 1 invalid input (nothing written), 2 usage.
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from captiva.onboarding import csv_import, inventory, letters
from captiva.onboarding.csv_import import CsvImportError
from captiva.passwords import sha512_crypt
from captiva.runtime import cli, settings
from captiva.runtime.mail import parse_smtp
from captiva.runtime.settings import ConfigError


def _hash_all(passwords: list[str]) -> list[str]:
    if len(passwords) < 200:
        return [sha512_crypt(p) for p in passwords]
    with ProcessPoolExecutor() as pool:
        return list(pool.map(sha512_crypt, passwords, chunksize=64))


def _vault(passwords: list[str], vault_id: str, password_file: Path) -> list[str]:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH  # noqa: F401  (loads the config)
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(password_file.read_bytes().strip())
    vault = VaultLib([(vault_id, secret)])
    return [vault.encrypt(p, secret=secret, vault_id=vault_id).decode() for p in passwords]


def _parse_map(items: list[str], mapping_file: Path | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    if mapping_file:
        loaded = inventory.plain(inventory.load(mapping_file)) or {}
        if not isinstance(loaded, dict):
            raise CsvImportError([f"{mapping_file}: expected a mapping of field: column"])
        mapping.update({str(k): str(v) for k, v in loaded.items()})
    for item in items:
        field, sep, column = item.partition("=")
        if not sep:
            raise CsvImportError([f"--map {item!r}: expected field=column"])
        mapping[field.strip()] = column.strip()
    return mapping


def _promotion_warnings(new, mapping, source, variables) -> list[str]:
    """New users left without a promotion: not an error (staff and guests have none), but
    they get the default profile and no promotion's WiFi switch, so it is said."""
    without = [item.line for item in new if "promotion" not in item.user]
    if not without:
        return []
    lines = ", ".join(map(str, without[:10])) + (", ..." if len(without) > 10 else "")
    why = (f"their {mapping['promotion']} is empty" if "promotion" in mapping else
           "the CSV has no promotion column and no --promotion was given")
    names = [str(p.get("name")) for p in variables.get("captiva_promotions") or []
             if isinstance(p, dict)]
    return [f"{source}: {len(without)} new user(s) without a promotion ({why}), line(s) "
            f"{lines}: they get their own profile, else captiva-default; give one with "
            f"--promotion NAME (promotions: {', '.join(names) or 'none declared'})"]


def import_csv(args) -> int:
    started = time.monotonic()
    inv = inventory.Inventory(Path(args.inventory))
    users = inv.open_users(args.users_file)
    users_file, existing = users.path, users.users

    source = str(args.csv)
    table = csv_import.read_csv(Path(args.csv).read_bytes(), encoding=args.encoding,
                                delimiter=args.delimiter, source=source)
    mapping = csv_import.column_mapping(table.headers, _parse_map(args.map, args.mapping_file),
                                        source=source)
    warnings = list(table.warnings)
    ignored = csv_import.unmapped_columns(table.headers, mapping)
    if ignored:
        warnings.append(f"{source}: {len(ignored)} column(s) not imported, no roster field reads "
                        f"them: {', '.join(ignored)} (map one with --map FIELD=COLUMN; fields: "
                        f"{', '.join(csv_import.FIELDS)})")
    imported = csv_import.to_users(table.rows, mapping, promotion=args.promotion)
    # Every bad row is reported at once: rows that cannot be read, duplicates, then the
    # roster's rules on the others. A duplicate is left out of the merge, so the rows after it
    # are still checked.
    problems = [*table.problems, *csv_import.duplicate_rows(imported, mapping["username"])]
    left_out = {problem.line for problem in problems}
    imported = [item for item in imported if item.line not in left_out]

    known = {str(u.get("username", "")).lower() for u in existing}
    new = [i for i in imported if i.user["username"].lower() not in known]
    result = csv_import.merge(existing, imported, prune=args.prune)

    # Validate the merged roster with the roster's own rules; new users get a stand-in
    # password until validation passes (nothing is generated for a file that is refused).
    by_name = {str(u.get("username", "")).lower(): i for i, u in enumerate(existing)}
    variables = inv.variables(inventory.plain(users.document), users_file)
    storage = variables.get("captiva_password_storage", "hashed")
    for item in new:
        user = variables[inventory.USERS_KEY][by_name[item.user["username"].lower()]]
        user["password"] = inventory.VAULTED
    warnings += _promotion_warnings(new, mapping, source, variables)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    # Errors on imported rows are reported against the CSV; the others against the roster.
    order = {id(existing[by_name[i.user["username"].lower()]]): n for n, i in enumerate(imported)}
    positions = [order.get(id(u)) for u in existing]
    _, errors = inventory.validate(variables)
    elsewhere: list[str] = []
    for error in errors:
        item = None
        if error.path.startswith(f"{inventory.USERS_KEY}["):
            index = int(error.path.split("[", 1)[1].split("]", 1)[0])
            if index < len(positions) and positions[index] is not None:
                item = imported[positions[index]]
        field = error.path.split("]", 1)[1].lstrip(".").split(".")[0] if item else ""
        if item and field == "promotion" and "promotion" not in item.columns and args.promotion:
            where = f"--promotion {args.promotion}: {error.reason}"  # once, not once a row
            if where not in elsewhere:
                elsewhere.append(where)
        elif item:
            column = item.columns.get(field, f"(no column for {field})" if field else None)
            problems.append(csv_import.Problem(item.line, column, error.reason))
        else:
            where = users_file if error.path.startswith(inventory.USERS_KEY) else inv.vars_dir
            elsewhere.append(f"{where}: {error.path}: {error.reason} (in the inventory, not "
                             "from the CSV)")
    if problems or elsewhere:
        problems.sort(key=lambda problem: problem.line)
        raise CsvImportError([problem.render(source) for problem in problems] + elsewhere)

    passwords = {}
    if new:
        clear = [csv_import.generate_password() for _ in new]
        if storage == "hashed":
            stored = _hash_all(clear)
        else:
            if not args.vault_password_file:
                raise CsvImportError([
                    "captiva_password_storage is cleartext: new users' passwords are vaulted; "
                    "pass --vault-id ID --vault-password-file FILE (the inventory's vault id)"])
            stored = _vault(clear, args.vault_id, Path(args.vault_password_file))
        for item, password, value in zip(new, clear, stored, strict=True):
            user = existing[by_name[item.user["username"].lower()]]
            if storage == "hashed":
                user["password_hash"] = inventory.own_line(value)
            else:
                user["password"] = inventory.vault_scalar(value)
            passwords[item.user["username"]] = password

    after = users.dump()
    print(result.summary())
    if users.show(after, args.dry_run, args.diff):
        return 0
    if passwords:
        if (args.letters or args.mail) and not letters.network_name(variables, args.wifi_name):
            print("warning: captiva_wifi_name is not set and no --wifi-name was given: the "
                  "letters say \"the campus WiFi network\" without naming it; set "
                  "captiva_wifi_name in the inventory (the network's name, its SSID)",
                  file=sys.stderr)
        if args.letters:
            written = letters.write_letters(
                Path(args.letters), [existing[by_name[n.lower()]] for n in passwords],
                passwords, variables, merged=args.merged_letters,
                wifi_name=args.wifi_name)
            print(f"welcome letters: {written}")
        if args.mail:
            smtp = settings.load(args.mail, lambda data: parse_smtp(data.get("smtp") or {}))
            sent, without = letters.mail_letters(
                smtp, [existing[by_name[n.lower()]] for n in passwords], passwords, variables,
                wifi_name=args.wifi_name)
            print(f"welcome letters mailed: {sent}")
            if without:
                print(f"no email, not mailed (print their letters): {', '.join(without)}",
                      file=sys.stderr)
        if not args.letters and not args.mail:
            print(f"{len(passwords)} new users: their initial passwords exist only in the "
                  "welcome letters; pass --letters DIR to write them (now or never: they are "
                  "not stored in clear)", file=sys.stderr)
    # Written last: if a letter or a mail fails, the users file is unchanged and a rerun
    # generates new passwords (discard letters written by the failed run).
    if users.write(after):
        print(f"written {users_file}")
    print(f"took {time.monotonic() - started:.2f} s")
    return 0


def adopt_db(args) -> int:
    import psycopg

    from captiva.onboarding import adopt

    try:
        source = adopt.scan_source(args.dsn)
    except ValueError as exc:
        raise CsvImportError([str(exc)]) from None
    # The password: --password-file, else libpq's own PGPASSWORD or ~/.pgpass.
    secret = ({"password": (Path(args.password_file).read_text().splitlines() or [""])[0]}
              if args.password_file else {})
    with psycopg.connect(args.dsn, **secret) as conn:
        conn.read_only = True
        tables = adopt.read_database(conn)
    adoption = adopt.adopt(tables, default_profile=args.default_profile)
    return _write_adoption(adoption, args, source)


def adopt_routeros(args) -> int:
    import os

    from ansible_collections.captiva.campus.plugins.module_utils import captiva_routeros as routeros

    from captiva.onboarding import adopt

    password = (Path(args.password_file).read_text().strip() if args.password_file
                else os.environ.get("CAPTIVA_ROUTER_PASSWORD", ""))
    try:
        client = routeros.RouterOSClient(args.host, args.username, password, port=args.port,
                                         tls=not args.plain, validate_certs=not args.no_verify,
                                         ca_path=args.ca)
        try:
            profiles = client.print("/ip/hotspot/user/profile")
            users = client.print("/ip/hotspot/user")
        finally:
            client.close()
    except routeros.RouterOSError as exc:
        raise CsvImportError([str(exc)]) from exc
    adoption = adopt.adopt_routeros(profiles, users, args.host)
    return _write_adoption(adoption, args, f"router {args.host}")


def _write_adoption(adoption, args, source: str) -> int:
    from captiva.onboarding import adopt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    vaulted = bool(args.vault_password_file)
    documents = adopt.roster_documents(adoption, hash_passwords=not vaulted)
    if vaulted:
        users = documents["users.yml"]["captiva_users"]
        clear = [u for u in users if "password" in u]
        for user, value in zip(clear, _vault([u["password"] for u in clear], args.vault_id,
                                             Path(args.vault_password_file)), strict=True):
            user["password"] = inventory.vault_scalar(value)
    for user in documents["users.yml"]["captiva_users"]:
        if "password_hash" in user:
            user["password_hash"] = inventory.own_line(user["password_hash"])
    for name, document in documents.items():
        (out / name).write_text(inventory.dump(document, explicit_start=True), encoding="utf-8")
    (out / "adopt-report.md").write_text(adopt.report(adoption, source), encoding="utf-8")
    print(adoption.summary())
    print(f"written {out / 'profiles.yml'}, {out / 'users.yml'}, {out / 'adopt-report.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m captiva.onboarding")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import-csv", help="merge a registrar's CSV into an inventory's users")
    p.add_argument("inventory", help="the inventory directory, e.g. inventories/example")
    p.add_argument("csv", help="the CSV file")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="roster field from a CSV column, e.g. username=Matricule (repeatable)")
    p.add_argument("--mapping-file", type=Path, help="YAML mapping of field: column")
    p.add_argument("--promotion", help="promotion for every row without its own")
    p.add_argument("--encoding", help="the file's encoding (default: UTF-8, else Windows-1252)")
    p.add_argument("--delimiter", help="the separator (default: detected among ; , tab)")
    p.add_argument("--users-file", help="the users file (default: the inventory's file that "
                                        "holds captiva_users, else group_vars/all/users.yml)")
    p.add_argument("--prune", action="store_true",
                   help="remove users that are not in the file (the prune guard still applies "
                        "at apply time)")
    p.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    p.add_argument("--diff", action="store_true", help="show the diff and write")
    p.add_argument("--letters", help="directory for the new users' welcome letters (PDF)")
    p.add_argument("--wifi-name", help="the WiFi network name (SSID) printed on the letters "
                                       "(default: the inventory's captiva_wifi_name)")
    p.add_argument("--mail", metavar="SMTP_TOML",
                   help="also mail each new user their letter (PDF attached), with the [smtp] "
                        "table of this file (the quota jobs' format: host, port, starttls, "
                        "username, password, from, ca_file)")
    p.add_argument("--merged-letters", action="store_true", help="one PDF for all letters")
    p.add_argument("--vault-id", default="default", help="vault id for vaulted passwords")
    p.add_argument("--vault-password-file", help="vault password file for vaulted passwords")
    a = sub.add_parser("adopt-db", help="write the roster of an existing FreeRADIUS database "
                                         "(read-only scan) and a report of what is not mapped")
    a.add_argument("--dsn", required=True,
                   help="libpq connection string of the database to scan (read only), "
                        "without its password")
    a.add_argument("--password-file", help="file whose first line is the database password "
                                           "(default: PGPASSWORD or ~/.pgpass, as libpq)")
    a.add_argument("--out", required=True, help="directory for profiles.yml, users.yml and "
                                                "adopt-report.md")
    a.add_argument("--default-profile", help="profile of users without a group")
    a.add_argument("--vault-id", default="default", help="vault id for cleartext passwords")
    a.add_argument("--vault-password-file",
                   help="vault cleartext passwords (CHAP) instead of hashing them")
    r = sub.add_parser("adopt-routeros", help="write the roster of a router's local hotspot "
                                               "users and user profiles (read over the API)")
    r.add_argument("--host", required=True)
    r.add_argument("--port", type=int, help="API port (default 8729, or 8728 with --plain)")
    r.add_argument("--username", required=True, help="API user (read policy; 'sensitive' to "
                                                     "read passwords)")
    r.add_argument("--password-file", help="file holding the API password (default: the "
                                           "CAPTIVA_ROUTER_PASSWORD environment variable)")
    r.add_argument("--plain", action="store_true", help="plain API (8728) instead of API-SSL")
    r.add_argument("--no-verify", action="store_true", help="do not verify the certificate")
    r.add_argument("--ca", help="CA file for the router's certificate")
    r.add_argument("--out", required=True)
    r.add_argument("--vault-id", default="default")
    r.add_argument("--vault-password-file")
    from captiva.onboarding import registrations

    registrations.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from captiva.onboarding.registrations import import_registrations

        command = {"adopt-db": adopt_db, "adopt-routeros": adopt_routeros,
                   "import-csv": import_csv,
                   "import-registrations": import_registrations}[args.command]
        return command(args)
    except (CsvImportError, FileNotFoundError, UnicodeDecodeError, ConfigError,
            smtplib.SMTPException, OSError) as exc:
        problems = exc.problems if isinstance(exc, CsvImportError) else [str(exc)]
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("nothing written", file=sys.stderr)
        return 1
