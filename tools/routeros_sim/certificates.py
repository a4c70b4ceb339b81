"""``/certificate`` as RouterOS keeps it (help.mikrotik.com, "Certificates").

- ``/certificate/import file-name=F [name=N] [passphrase=P] [trusted=yes|no]`` reads the PEM
  certificates and private keys of a ``/file`` entry. It answers one ``!re`` with the counters
  RouterOS prints: ``certificates-imported``, ``private-keys-imported``, ``files-imported``,
  ``decryption-failures``, ``keys-with-no-certificate``.
- Certificates are named ``N``, ``N_1``, ``N_2``... or, without ``name``, ``F_0``, ``F_1``...
  (the documented default ``file-name_number``). A certificate already present (same
  fingerprint) is not imported twice.
- A private key is matched to a certificate with the same public key, which then prints
  ``private-key=true`` (flag K). An encrypted key needs ``passphrase`` (else it counts as a
  decryption failure); a key that matches no certificate is counted in
  ``keys-with-no-certificate`` and kept nowhere (the docs do not say that RouterOS keeps it for
  a later certificate: the simulator errs stricter).
- Read-only fields: ``common-name``, ``subject-alt-name``, ``issuer``, ``serial-number``,
  ``fingerprint`` (SHA-256 of the DER, lower-case hex), ``key-type``, ``key-size``,
  ``invalid-before``/``invalid-after`` (``YYYY-MM-DD HH:MM:SS``, UTC), ``expires-after``,
  ``private-key``, ``expired``. ``name`` and ``trusted`` can be set.
- The private keys themselves are never printed; the simulator keeps them (PEM) for the
  hotspot's HTTPS listener.
"""

from __future__ import annotations

import datetime
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .model import Field, Menu, Trap, format_duration_ms

CATEGORY_ARGUMENT = 1
_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)
READ_ONLY = ("common-name", "subject-alt-name", "issuer", "serial-number", "fingerprint",
             "key-type", "key-size", "invalid-before", "invalid-after", "expires-after",
             "private-key", "expired")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def _public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _describe(cert: x509.Certificate) -> dict[str, str]:
    subject = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
        names += [f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type, key_size = "rsa", str(key.key_size)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, key_size = "ec", key.curve.name
    else:
        key_type, key_size = "unknown", ""
    return {
        "common-name": str(subject[0].value) if subject else "",
        "subject-alt-name": ",".join(names),
        "issuer": f"CN={issuer[0].value}" if issuer else "",
        "serial-number": f"{cert.serial_number:X}",
        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
        "key-type": key_type,
        "key-size": key_size,
        "invalid-before": cert.not_valid_before_utc.strftime(DATE_FORMAT),
        "invalid-after": cert.not_valid_after_utc.strftime(DATE_FORMAT),
        "private-key": "false",
    }


class CertificateMenu(Menu):
    """The router's certificate store. ``secrets`` maps a row's .id to its PEM (certificate
    and, once imported, private key): kept for the HTTPS listener, never printed."""

    def __init__(self) -> None:
        fields = {"name": Field("name", required=True),
                  "trusted": Field("trusted", kind="bool", default="true")}
        for name in READ_ONLY:
            fields[name] = Field(name, read_only=True)
        fields["pem"] = Field("pem", read_only=True)
        super().__init__("/certificate", fields, primary_keys=("name",), api_add=False,
                         hidden=frozenset({"pem", "key-pem", "public-key"}))

    def print(self) -> list[dict[str, str]]:
        now = datetime.datetime.now(datetime.UTC)
        rows = []
        for row in super().print():
            after = datetime.datetime.strptime(row["invalid-after"], DATE_FORMAT).replace(
                tzinfo=datetime.UTC)
            left = int((after - now).total_seconds())
            rows.append({**row, "expired": "true" if left <= 0 else "false",
                         "expires-after": format_duration_ms(max(left, 0) * 1000)})
        return rows

    def set(self, args: dict[str, str]) -> None:
        super().set(self._by_name(args))

    def remove(self, args: dict[str, str]) -> None:
        super().remove(self._by_name(args))

    def _by_name(self, args: dict[str, str]) -> dict[str, str]:
        """RouterOS takes a certificate's name where an .id is expected."""
        ids = args.get(".id") or args.get("numbers")
        if not ids:
            return args
        by_name = {r["name"]: r[".id"] for r in self.rows}
        args = {k: v for k, v in args.items() if k != "numbers"}
        args[".id"] = ",".join(by_name.get(i, i) for i in ids.split(","))
        return args

    def by_name(self, name: str) -> dict[str, str] | None:
        return next((r for r in self.rows if r.get("name") == name), None)

    # -- /certificate/import ------------------------------------------------------------------
    def import_file(self, args: dict[str, str], files: Menu) -> dict[str, str]:
        unknown = set(args) - {"file-name", "name", "passphrase", "trusted", "trust-store"}
        if unknown:
            raise Trap(f"unknown parameter {sorted(unknown)[0]}", CATEGORY_ARGUMENT)
        file_name = args.get("file-name")
        if not file_name:
            raise Trap("missing value(s) of argument(s) file-name", CATEGORY_ARGUMENT)
        entry = next((r for r in files.rows if r.get("name") == file_name), None)
        if entry is None or entry.get("type") == "directory":
            raise Trap("failure: no such file", CATEGORY_ARGUMENT)
        trusted = self.fields["trusted"].canonical(args.get("trusted", "yes"))
        passphrase = args.get("passphrase", "").encode() or None
        blocks = [m.group(0) for m in _PEM_BLOCK.finditer(entry.get("contents", ""))]
        certs, keys, failures = [], [], 0
        for block in blocks:
            kind = block.split("-----")[1].removeprefix("BEGIN ")
            if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                try:
                    certs.append((x509.load_pem_x509_certificate(block.encode()), block))
                except ValueError:
                    failures += 1
            elif kind.endswith("PRIVATE KEY"):
                try:
                    keys.append((serialization.load_pem_private_key(
                        block.encode(), passphrase if "ENCRYPTED" in block else None), block))
                except (ValueError, TypeError):
                    failures += 1
        if not certs and not keys and not failures:
            raise Trap("failure: no certificates or keys in the file", CATEGORY_ARGUMENT)
        imported = 0
        base = args.get("name") or f"{file_name}_0"
        stem = args.get("name") or file_name
        for cert, block in certs:
            info = _describe(cert)
            if any(r.get("fingerprint") == info["fingerprint"] for r in self.rows):
                continue
            name = base if imported == 0 and not self.by_name(base) else self._free_name(stem)
            self.add({"name": name, "trusted": trusted}, internal=True)
            row = self.rows[-1]
            row.update(info)
            row["pem"] = block
            row["public-key"] = _public_der(cert.public_key()).hex()
            imported += 1
        matched = orphans = 0
        for key, _block in keys:
            public = _public_der(key.public_key()).hex()
            row = next((r for r in self.rows if r.get("public-key") == public), None)
            if row is None:
                orphans += 1
                continue
            row["key-pem"] = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode()
            row["private-key"] = "true"
            matched += 1
        return {"certificates-imported": str(imported), "private-keys-imported": str(matched),
                "files-imported": "1" if imported or matched else "0",
                "decryption-failures": str(failures),
                "keys-with-no-certificate": str(orphans)}

    def _free_name(self, stem: str) -> str:
        number = 1
        while self.by_name(f"{stem}_{number}"):
            number += 1
        return f"{stem}_{number}"

    def pem_pair(self, name: str) -> tuple[str, str] | None:
        """(certificate PEM, key PEM) of the certificate ``name`` when it has its key."""
        row = self.by_name(name)
        if row is None or row.get("private-key") != "true" or not row.get("key-pem"):
            return None
        return row["pem"], row["key-pem"]
