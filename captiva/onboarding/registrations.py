"""``python -m captiva.onboarding import-registrations``: approved sign-up requests into an
inventory's users (docs/onboarding.md, "Sign-up requests"; docs/portal.md, "Sign-up").

Approval on the portal writes nothing into RADIUS. This reads the approved requests not yet
in the roster from the database, as the reconcile's role (``captiva_reconcile``, from the
controller), and merges them into the users file as ``import-csv`` does
(``csv_import.merge``, the roster's validation on the result), each with the request's
password as its ``password_hash`` (sha512-crypt: the request never held anything else). Each
request newly written into the file gets one audit row (``registration-import``, kind
``registration``, actor ``os:<login>``: :func:`captiva.authz.current_os_actor`), written by
``captiva_registration_imported`` and committed only once the file is written. The change then
goes through review and ``make apply``; once the account is in ``captiva_user`` the student's
status page says "imported".

    python -m captiva.onboarding import-registrations inventories/prod \\
        --vault-password-file ~/.captiva-vault --dry-run
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from captiva.onboarding import csv_import, inventory
from captiva.onboarding.csv_import import CsvImportError

FIELDS = ("username", "first_name", "last_name", "email", "promotion", "language")

# Approved and not a roster user yet (a user removed from the roster since would come back:
# the request is still approved; reject it or delete it from the roster's history first).
APPROVED = """
    SELECT r.id, r.matricule, r.first_name, r.last_name, r.email, r.promotion, r.language,
           r.password_hash
    FROM captiva_registration AS r
    WHERE r.status = 'approved'
      AND NOT EXISTS (SELECT FROM captiva_user AS u WHERE lower(u.username) = lower(r.matricule))
    ORDER BY r.decided_at, r.id
"""


def approved(conn) -> list[dict[str, Any]]:
    cursor = conn.execute(APPROVED)
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def dsn_of(variables: dict) -> str:
    """libpq's connection string for the inventory's database as captiva_reconcile (its
    password apart), every host of captiva_database (libpq tries them in turn)."""
    database = variables.get("captiva_database") or {}
    hosts = database.get("host")
    if not hosts:
        raise CsvImportError(["captiva_database.host is not set in the inventory: pass --dsn"])
    hosts = hosts if isinstance(hosts, list) else [hosts]
    port = database.get("port", 5432)
    return (f"host={','.join(str(h) for h in hosts)} port={port} "
            f"dbname={database.get('name', 'radius')} user=captiva_reconcile")


def reconcile_password(inv: inventory.Inventory, vault_id: str,
                       password_file: Path) -> str:
    """captiva_db_passwords.reconcile, decrypted with the inventory's vault password."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    for file in inv.files:
        document = inventory.load(file)
        passwords = (document or {}).get("captiva_db_passwords") if isinstance(
            document, dict) else None
        if passwords and "reconcile" in passwords:
            value = passwords["reconcile"]
            text = value.value if hasattr(value, "tag") else str(value)
            if not text.startswith("$ANSIBLE_VAULT"):
                return text
            secret = VaultSecret(password_file.read_bytes().strip())
            return VaultLib([(vault_id, secret)]).decrypt(text).decode()
    raise CsvImportError(["captiva_db_passwords.reconcile is not in the inventory: pass "
                          "--password-file or set PGPASSWORD"])


def merge(document: Any, requests: list[dict[str, Any]]) -> csv_import.MergeResult:
    """Merge ``requests`` into the users document (in place). A request whose matricule is
    already in the file (imported, not applied yet) updates its fields and keeps the file's
    password."""
    existing = document.setdefault(inventory.USERS_KEY, [])
    known = {str(u.get("username", "")).lower() for u in existing}
    imported = [csv_import.ImportedUser(
        line=request["id"],
        user={"username": request["matricule"], **{f: request[f] for f in FIELDS[1:]}},
        columns={}) for request in requests]
    result = csv_import.merge(existing, imported)
    by_name = {str(u.get("username", "")).lower(): u for u in existing}
    for request in requests:
        if request["matricule"].lower() not in known:
            by_name[request["matricule"].lower()]["password_hash"] = inventory.own_line(
                request["password_hash"])
    return result


def import_registrations(args) -> int:
    import psycopg

    from captiva import authz

    actor = authz.current_os_actor()  # the audit rows' actor: who runs this, os:<login>
    inv = inventory.Inventory(Path(args.inventory))
    users = inv.open_users(args.users_file)
    variables = inv.variables()
    if variables.get("captiva_password_storage", "hashed") != "hashed":
        raise CsvImportError([
            "captiva_password_storage is cleartext (CHAP): a sign-up request holds only a "
            "sha512-crypt hash of its password, which CHAP cannot check; import these users "
            "with import-csv (new passwords) instead"])
    if args.dsn:
        from captiva.onboarding.adopt import scan_source

        try:  # a password on the command line is refused, as adopt-db refuses it
            scan_source(args.dsn)
        except ValueError as exc:
            raise CsvImportError([str(exc)]) from None
    dsn = args.dsn or dsn_of(variables)
    secret: dict[str, str] = {}
    if args.password_file:
        secret["password"] = (Path(args.password_file).read_text().splitlines() or [""])[0]
    elif args.vault_password_file and "PGPASSWORD" not in os.environ:
        secret["password"] = reconcile_password(inv, args.vault_id,
                                                Path(args.vault_password_file))
    with psycopg.connect(dsn, **secret) as conn:
        conn.read_only = True
        requests = approved(conn)

    in_file = {str(u.get("username", "")).lower()
               for u in users.document.get(inventory.USERS_KEY) or []}
    new_ids = [r["id"] for r in requests if r["matricule"].lower() not in in_file]
    result = merge(users.document, requests)
    _, errors = inventory.validate(inv.variables(inventory.plain(users.document), users.path))
    if errors:
        raise CsvImportError([f"{users.path}: {e.path}: {e.reason}" for e in errors])
    after = users.dump()
    print(f"approved requests not in the roster yet: {len(requests)}")
    print(result.summary())
    if users.show(after, args.dry_run, args.diff):
        return 0
    if not new_ids:
        if users.write(after):
            print(f"written {users.path}: review it (a merge request), then make apply")
        return 0
    # The audit rows (one per request new in the file) are committed only once the file is
    # written: a refusal writes no file, a failed write leaves no row. Written on the
    # primary (libpq skips a standby among captiva_database's hosts).
    try:
        with psycopg.connect(dsn, target_session_attrs="read-write", **secret) as conn:
            audited = conn.execute("SELECT captiva_registration_imported(%s, %s, %s)",
                                   (actor, new_ids, str(users.path))).fetchone()[0]
            users.write(after)
    except psycopg.Error as exc:
        raise CsvImportError([f"the audit of the import ({actor}): {exc}".strip()]) from None
    print(f"written {users.path}: review it (a merge request), then make apply")
    print(f"audited: {audited} request(s) imported by {actor}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("import-registrations",
                       help="merge the approved sign-up requests into an inventory's users")
    p.add_argument("inventory", help="the inventory directory, e.g. inventories/prod")
    p.add_argument("--dsn", help="libpq connection string, without its password (default: "
                                 "captiva_database of the inventory, as captiva_reconcile)")
    p.add_argument("--password-file", help="file whose first line is the database password")
    p.add_argument("--vault-id", default="default",
                   help="vault id of captiva_db_passwords.reconcile")
    p.add_argument("--vault-password-file",
                   help="decrypt captiva_db_passwords.reconcile with this vault password file "
                        "(default: PGPASSWORD or ~/.pgpass, as libpq)")
    p.add_argument("--users-file", help="the users file (default: the inventory's file that "
                                        "holds captiva_users, else group_vars/all/users.yml)")
    p.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    p.add_argument("--diff", action="store_true", help="show the diff and write")
