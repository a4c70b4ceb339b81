"""The hotspot's TLS certificate on a MikroTik router: check it, name it, plan it, install it.

RouterOS needs a certificate with its private key for the hotspot's HTTPS login (``login-by``
``https``; the hotspot profile's ``ssl-certificate`` names it). It takes certificates from
files only: upload a file, then ``/certificate/import file-name=... name=...
passphrase=...`` (help.mikrotik.com, "Certificates", "Import Certificate"). A file holding a
certificate and its key imports both; the certificate then shows the ``private-key`` flag.
``/certificate/print`` shows each certificate's ``fingerprint``, the SHA-256 of its DER form in
hex.

What Captiva does, per certificate it wants on the router (``desired_entries``):
- its name comes from its fingerprint (``captiva-hotspot-<12 hex>``; a chain certificate
  ``captiva-hotspot-ca-<12 hex>``), so the roster's compiled state already names what the
  hotspot profile uses, and a new certificate is a new name (rotation);
- it is imported only when no certificate of that name is on the router: upload
  ``<name>.pem`` (certificate and key) with ``/file/add``, import it, and remove the file at
  once, even when the import fails: the key must not stay readable in ``/file``;
- after the import, the certificate is read back: same fingerprint, key present, or the run
  fails;
- certificates Captiva imported (listed in its ownership ledger) that are no longer wanted
  are removed after the hotspot profile has switched to the new one; any other certificate
  is never touched.

Pure Python, no Ansible imports. Parsing uses ``cryptography`` (a dependency of
ansible-core, so present on every controller). The key is never part of an error, a
summary or a diff.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CERTIFICATE_MENU = "/certificate"
FILE_MENU = "/file"
NAME_PREFIX = "captiva-hotspot-"
CHAIN_PREFIX = "captiva-hotspot-ca-"
FINGERPRINT_CHARS = 12  # 48 bits of the fingerprint in the name: unique among a router's few
RENEW_DAYS = 30  # a plan warns when a certificate ends within this many days
ENTRY_FIELDS = ("name", "certificate", "key")

_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
_PEM_KEY = re.compile(r"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----")
_DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class CertificateError(ValueError):
    """A certificate or key that cannot be used, or a router that holds the wrong one. The
    message never contains the key."""


@dataclass(frozen=True)
class Certificate:
    pem: str  # this one certificate, PEM, ending with a newline
    fingerprint: str  # SHA-256 of the DER form, lower-case hex, as /certificate/print shows it
    subject: str
    dns_names: tuple[str, ...]  # subjectAltName DNS entries
    not_before: dt.datetime
    not_after: dt.datetime


# ----------------------------------------------------------------------------------------------
# Parsing and checks


def parse_certificates(text: str) -> list[Certificate]:
    """Every certificate of a PEM text, in order (the server's first, then its chain)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID

    if not isinstance(text, str):
        raise CertificateError("expected PEM text (-----BEGIN CERTIFICATE----- ...)")
    blocks = _PEM_CERTIFICATE.findall(text)
    if not blocks:
        raise CertificateError("no PEM certificate found (-----BEGIN CERTIFICATE----- ...)")
    found = []
    for number, block in enumerate(blocks, start=1):
        pem = block.strip() + "\n"
        try:
            cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except ValueError as exc:
            raise CertificateError(f"certificate {number} of the PEM text does not parse: "
                                   f"{exc}") from None
        from cryptography.hazmat.primitives.serialization import Encoding

        der = cert.public_bytes(Encoding.DER)
        try:
            san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
            dns_names = tuple(n.lower() for n in san.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            dns_names = ()
        found.append(Certificate(
            pem=pem, fingerprint=hashlib.sha256(der).hexdigest(),
            subject=cert.subject.rfc4514_string(), dns_names=dns_names,
            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc))
    return found


def _load_key(text: str):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if not isinstance(text, str):
        raise CertificateError("expected the private key as PEM text")
    kind = _PEM_KEY.search(text)
    if kind is None:
        raise CertificateError("no PEM private key found (-----BEGIN PRIVATE KEY----- ...)")
    if kind.group(1) == "ENCRYPTED PRIVATE KEY" or "Proc-Type: 4,ENCRYPTED" in text:
        raise CertificateError("the private key is encrypted with a passphrase: give it "
                               "unencrypted and keep it in the vault instead "
                               "(openssl pkey -in key.pem -out plain.pem)")
    try:
        return load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        # Not the library's message: it could quote part of the key.
        raise CertificateError("the private key does not parse as PEM") from None


def _public_der(public_key) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def key_matches(key_text: str, certificate: Certificate) -> bool:
    """Whether the private key is the one of ``certificate``'s public key."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(certificate.pem.encode("ascii"))
    return _public_der(_load_key(key_text).public_key()) == _public_der(cert.public_key())


def covers(dns_names: Iterable[str], host: str) -> bool:
    """Whether a certificate's DNS names cover ``host`` as a browser checks it (RFC 6125 6.4:
    an exact name, or ``*.`` standing for exactly one left-most label)."""
    host = host.lower().rstrip(".")
    for name in dns_names:
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if rest == name[2:] and _DNS_NAME.match(first) and rest.count(".") >= 1:
                return True
    return False


def check_hotspot_tls(tls: Mapping[str, Any], dns_names: Iterable[str] = (),
                      now: dt.datetime | None = None, *,
                      check_key: bool = True) -> list[tuple[str, str]]:
    """Problems of a hotspot certificate for hotspots answering at ``dns_names``, as
    ``(field, reason)`` pairs (``field``: ``certificate`` or ``key``); [] when usable.
    ``check_key=False``: the key is a stand-in for a vaulted value, left unchecked."""
    now = now or dt.datetime.now(dt.UTC)
    problems: list[tuple[str, str]] = []
    try:
        chain = parse_certificates(tls.get("certificate"))
    except CertificateError as exc:
        return [("certificate", str(exc))]
    leaf = chain[0]
    try:
        if check_key and not key_matches(tls.get("key"), leaf):
            problems.append(("key", f"this key does not belong to the first certificate "
                                    f"({leaf.subject}): give that certificate's key, and put "
                                    "the hotspot's own certificate first, then its chain"))
    except CertificateError as exc:
        problems.append(("key", str(exc)))
    for dns_name in dns_names:
        if not covers(leaf.dns_names, dns_name):
            names = ", ".join(leaf.dns_names) or "none"
            problems.append(("certificate", f"the certificate is not valid for the hotspot's "
                                            f"dns_name {dns_name!r} (its DNS names: {names}): "
                                            "browsers would refuse the login page; issue one "
                                            f"with subjectAltName DNS:{dns_name}"))
    for cert in chain:
        if cert.not_after <= now:
            problems.append(("certificate", f"{cert.subject} expired on "
                                            f"{cert.not_after:%Y-%m-%d}: renew it"))
        elif cert.not_before > now:
            problems.append(("certificate", f"{cert.subject} is not valid before "
                                            f"{cert.not_before:%Y-%m-%d %H:%M} UTC"))
    return problems


def certificate_name(fingerprint: str, chain: bool = False) -> str:
    """The name Captiva imports a certificate under: derived from its fingerprint, so a new
    certificate gets a new name and the old one can be removed after the switch."""
    return (CHAIN_PREFIX if chain else NAME_PREFIX) + fingerprint[:FINGERPRINT_CHARS]


def hotspot_certificate_name(tls: Mapping[str, Any]) -> str:
    """The name of the hotspot's certificate (the profile's ``ssl-certificate``)."""
    return certificate_name(parse_certificates(tls["certificate"])[0].fingerprint)


def desired_entries(tls: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``/certificate`` entries of a hotspot certificate for ``captiva_routeros``: the
    hotspot's own certificate with its key, then each chain certificate on its own."""
    chain = parse_certificates(tls["certificate"])
    entries = [{"name": certificate_name(chain[0].fingerprint), "certificate": chain[0].pem,
                "key": tls["key"].strip() + "\n"}]
    entries += [{"name": certificate_name(c.fingerprint, chain=True), "certificate": c.pem}
                for c in chain[1:]]
    return entries


def validate_entries(entries: Any) -> list[str]:
    """Problems of ``desired['/certificate']``, each naming its entry."""
    if not isinstance(entries, list):
        return [f"desired[{CERTIFICATE_MENU}]: expected a list of entries"]
    errors, seen = [], {}
    for index, entry in enumerate(entries):
        where = f"desired[{CERTIFICATE_MENU}][{index}]"
        if not isinstance(entry, Mapping):
            errors.append(f"{where}: expected a dict with name, certificate and key")
            continue
        if entry.get("name") in seen:
            errors.append(f"{where}.name: {entry.get('name')!r} is entry {seen[entry['name']]} "
                          "already")
            continue
        seen[entry.get("name")] = index
        unknown = sorted(set(entry) - set(ENTRY_FIELDS))
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(unknown)}; a certificate "
                          f"entry has {', '.join(ENTRY_FIELDS)}")
        try:
            chain = parse_certificates(entry.get("certificate"))
        except CertificateError as exc:
            errors.append(f"{where}.certificate: {exc}")
            continue
        if len(chain) != 1:
            errors.append(f"{where}.certificate: one certificate per entry (got {len(chain)})")
            continue
        wanted = certificate_name(chain[0].fingerprint, chain="key" not in entry)
        if entry.get("name") != wanted:
            errors.append(f"{where}.name: {entry.get('name')!r}: a certificate Captiva imports "
                          f"is named after its fingerprint: {wanted!r}")
        if "key" in entry:
            try:
                if not key_matches(entry["key"], chain[0]):
                    errors.append(f"{where}.key: the key does not belong to the certificate")
            except CertificateError as exc:
                errors.append(f"{where}.key: {exc}")
    return errors


def describe(entry: Mapping[str, Any]) -> dict[str, str]:
    """What a summary or a diff shows of a desired entry: never the key."""
    cert = parse_certificates(entry["certificate"])[0]
    return {"name": entry["name"], "fingerprint": cert.fingerprint, "subject": cert.subject,
            "dns-names": ",".join(cert.dns_names), "not-after": f"{cert.not_after:%Y-%m-%d}",
            "private-key": "yes" if entry.get("key") else "no"}


# ----------------------------------------------------------------------------------------------
# Plan


def normal_fingerprint(value: Any) -> str:
    return str(value or "").replace(":", "").replace(" ", "").lower()


def _has_key(row: Mapping[str, Any]) -> bool:
    return str(row.get("private-key", "")).lower() in ("true", "yes")


@dataclass
class CertificatePlan:
    create: list[dict[str, str]]  # desired entries to import
    delete: list[dict[str, Any]]  # rows of certificates Captiva imported, no longer wanted
    owned: int  # certificates on the router that Captiva imported
    conflicts: list[str]
    warnings: list[str]


def renewal_warnings(entries: Iterable[Mapping[str, str]],
                     now: dt.datetime | None = None) -> list[str]:
    """A warning for each desired certificate that ends within RENEW_DAYS days."""
    now = now or dt.datetime.now(dt.UTC)
    warnings = []
    for entry in entries:
        cert = parse_certificates(entry["certificate"])[0]
        left = cert.not_after - now
        if left < dt.timedelta(days=RENEW_DAYS):
            warnings.append(f"{CERTIFICATE_MENU} {entry['name']} ({cert.subject}) ends on "
                            f"{cert.not_after:%Y-%m-%d %H:%M} UTC, in {max(left.days, 0)} "
                            "day(s): renew it in the inventory (docs/routeros.md, "
                            "\"Certificates\"); browsers refuse the login page after that")
    return warnings


def plan(entries: list[Mapping[str, str]], rows: list[Mapping[str, Any]], owned: set[str], *,
         prune: bool = True) -> CertificatePlan:
    """What to import and remove, from ``/certificate/print`` rows and the names Captiva's
    ledger lists."""
    by_name = {str(r.get("name", "")): r for r in rows}
    fingerprints = {normal_fingerprint(r.get("fingerprint")): r for r in rows}
    create, conflicts, keep = [], [], set()
    for entry in entries:
        name = entry["name"]
        fingerprint = parse_certificates(entry["certificate"])[0].fingerprint
        row = by_name.get(name)
        if row is None:
            twin = fingerprints.get(fingerprint)
            if twin is not None and "key" not in entry:
                keep.add(str(twin.get("name")))  # a chain certificate already there: enough
                continue
            if twin is not None:
                conflicts.append(
                    f"{CERTIFICATE_MENU} {name}: the router already holds this certificate as "
                    f"{twin.get('name')!r}, which Captiva did not import: remove that one on "
                    f"the router (/certificate/remove {twin.get('name')}) if nothing else uses "
                    "it, so that Captiva imports and owns its own")
                continue
            create.append(dict(entry))
            continue
        keep.add(name)
        if name not in owned:
            conflicts.append(f"{CERTIFICATE_MENU} {name}: a certificate of that name exists and "
                             "Captiva did not import it (not in its ownership ledger): remove "
                             "or rename it on the router")
        elif normal_fingerprint(row.get("fingerprint")) != fingerprint:
            conflicts.append(f"{CERTIFICATE_MENU} {name}: the router's certificate of that name "
                             f"has fingerprint {normal_fingerprint(row.get('fingerprint'))}, "
                             f"not {fingerprint}: remove it on the router and run again")
        elif "key" in entry and not _has_key(row):
            conflicts.append(f"{CERTIFICATE_MENU} {name}: the router holds the certificate "
                             "without its private key, so HTTPS login cannot work: remove it "
                             "on the router and run again")
    mine = [r for r in rows if str(r.get("name", "")) in owned]
    delete = [r for r in mine if str(r.get("name")) not in keep] if prune else []
    return CertificatePlan(create, delete, len(mine), conflicts, renewal_warnings(entries))


# ----------------------------------------------------------------------------------------------
# Install through a client (captiva_routeros.RouterOSClient: print, add, set, remove, command)


def upload_name(entry: Mapping[str, str]) -> str:
    return f"{entry['name']}.pem"


def install(client, entry: Mapping[str, str]) -> None:
    """Upload, import, remove the uploaded file (whatever happened), check what was imported.
    Raises CertificateError or the client's error."""
    name, file_name = entry["name"], upload_name(entry)
    contents = entry["certificate"] + (entry.get("key") or "")
    rows = client.print(FILE_MENU, f"?name={file_name}")
    if rows:  # left by an interrupted run
        file_id = rows[0].get(".id")
        client.set(FILE_MENU, file_id, {"contents": contents})
    else:
        file_id = client.add(FILE_MENU, {"name": file_name, "contents": contents})
    try:
        client.command(f"{CERTIFICATE_MENU}/import",
                       {"file-name": file_name, "name": name, "passphrase": ""})
    finally:
        client.remove(FILE_MENU, [file_id or file_name])
    imported = client.print(CERTIFICATE_MENU, f"?name={name}")
    expected = parse_certificates(entry["certificate"])[0].fingerprint
    if not imported or normal_fingerprint(imported[0].get("fingerprint")) != expected:
        raise CertificateError(f"after /certificate/import, the router shows no certificate "
                               f"{name} with fingerprint {expected}")
    if entry.get("key") and not _has_key(imported[0]):
        raise CertificateError(f"after /certificate/import, {name} has no private key")
