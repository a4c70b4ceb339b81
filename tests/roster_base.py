"""A small valid roster that tests start from and change one thing at a time."""

import datetime as dt
import functools
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS_FILE = ROOT / "group_vars" / "captiva_defaults.yml"


def base_variables() -> dict:
    variables = yaml.safe_load(DEFAULTS_FILE.read_text())
    variables.update({
        "captiva_radius_servers": ["10.89.0.11"],
        "captiva_portal": {"address": "10.89.0.12", "dns_name": "portal.campus.test"},
        "captiva_profiles": [{
            "name": "etudiant-standard",
            "bandwidth": {"upload": "2M", "download": "10M"},
            "quota": {"daily": "5GiB", "weekly": "30GiB", "monthly": "100GiB"},
            "session_timeout": "8h",
            "idle_timeout": "10m",
            "simultaneous_use": 1,
            "validity_days": 180,
        }],
        "captiva_promotions": [{"name": "L3-INFO-2025", "profile": "etudiant-standard"}],
        "captiva_users": [],
        "captiva_sites": [],
    })
    return variables


# The hotspot's HTTPS login (captiva_hotspot_login_by has https by default) needs, on each
# router, a hotspot DNS name and a certificate for it (captiva_roster_hotspot).
HOTSPOT_DNS_NAME = "wifi.campus.test"


@functools.lru_cache(maxsize=32)
def hotspot_tls(*dns_names: str, days: int = 730, ca: bool = False) -> dict:
    """A self-signed certificate for ``dns_names`` and its key, as the roster takes them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names = dns_names or (HOTSPOT_DNS_NAME,)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return {
        "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "key": key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode(),
    }


def with_hotspot(variables: dict) -> dict:
    """``variables`` with what the HTTPS login needs on every router: a hotspot DNS name
    (``HOTSPOT_DNS_NAME`` unless it has one) and, for each site without one, a certificate
    for its routers' names."""
    for site in variables.get("captiva_sites") or []:
        names = []
        for router in site.get("routers") or []:
            hotspot = router.setdefault("hotspot", {})
            hotspot.setdefault("dns_name", HOTSPOT_DNS_NAME)
            if hotspot["dns_name"] not in names:
                names.append(hotspot["dns_name"])
        if names and not site.get("hotspot_tls"):
            site["hotspot_tls"] = dict(hotspot_tls(*names))
    return variables
