"""Printing vouchers: the PDF holds the codes and QR codes that decode to the login URL."""

import csv
import datetime as dt
import io
import textwrap

import pypdf
import pytest
import yaml
import zxingcpp
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    batch_codes,
    format_code,
)

from captiva.vouchers import cards, cli, pdf

SECRET = "s3cr3t-for-tests-only-0123456789abcdef"
VAULT_PASSWORD = b"vault-password-for-tests"
BATCH = "portes-ouvertes-2026"


@pytest.fixture
def roster(tmp_path):
    """A roster directory like group_vars/all/, with the voucher secret vaulted."""
    directory = tmp_path / "all"
    directory.mkdir()
    ciphertext = VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).encrypt(SECRET).decode()
    (directory / "vault.yml").write_text(
        "captiva_voucher_secret: !vault |\n" + textwrap.indent(ciphertext, "  "))
    (directory / "roster.yml").write_text(yaml.safe_dump({
        "captiva_profiles": [{"name": "invite", "bandwidth": {"download": "5M"}}],
        "captiva_sites": [{"name": "campus-ndogbong", "timezone": "Africa/Douala", "routers": [{
            "name": "r1", "address": "10.0.0.1", "radius_secret": "x" * 16,
            "api": {"username": "captiva", "password": "p"},
            "hotspot": {"dns_name": "wifi.ndogbong.example"}}]}],
        "captiva_voucher_batches": [{
            "name": BATCH, "count": 25, "profile": "invite", "time_credit": "2h",
            "data": "5GiB", "valid_from": "2026-03-01", "valid_until": "2026-03-31",
            "sites": ["campus-ndogbong"], "revoked": [3]}],
    }))
    password_file = tmp_path / "vault-pass"
    password_file.write_bytes(VAULT_PASSWORD)
    return ["print", "--roster", str(directory), "--vault-password-file", str(password_file),
            "--batch", BATCH, "--wifi-name", "CAMPUS-INVITES"]


def url(code):
    """The router's HTTPS login page (login-by https, the default), the code in the fragment:
    the page fills its code form and sends the code as the router asks (PAP over TLS here)."""
    return f"https://wifi.ndogbong.example/login#code={code}"


def set_roster(tmp_path, **changes):
    roster_file = tmp_path / "all" / "roster.yml"
    roster_file.write_text(roster_file.read_text() + yaml.safe_dump(changes))


def pdf_text(path):
    return [page.extract_text() for page in pypdf.PdfReader(str(path)).pages]


def qr_codes(path):
    found = []
    for page in pypdf.PdfReader(str(path)).pages:
        for image in page.images:
            found += [result.text for result in zxingcpp.read_barcodes(image.image)]
    return found


def test_a_batch_prints_on_a4_with_ten_cards_a_page(roster, tmp_path):
    out = tmp_path / "cards.pdf"
    assert cli.main([*roster, "--pdf", str(out)]) == 0
    reader = pypdf.PdfReader(str(out))
    assert len(reader.pages) == 3  # 24 unrevoked cards, 10 a page
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    codes = batch_codes(SECRET, BATCH, 25)
    text = "\n".join(pdf_text(out))
    for index, code in enumerate(codes, start=1):
        assert (format_code(code) in text) == (index != 3)  # voucher 3 is revoked
    first_page = pdf_text(out)[0]
    assert "CAMPUS-INVITES" in first_page
    assert "2 h de connexion, 5 GiB de données" in first_page
    assert "2 h online, 5 GiB of data" in first_page
    assert "Valable du 2026-03-01 au 2026-03-31" in first_page
    assert "Scan the QR code" in first_page and "Scannez le QR code" in first_page


def test_each_qr_code_decodes_to_the_login_url_with_its_code(roster, tmp_path):
    out = tmp_path / "cards.pdf"
    cli.main([*roster, "--pdf", str(out)])
    codes = [c for i, c in enumerate(batch_codes(SECRET, BATCH, 25), start=1) if i != 3]
    assert qr_codes(out) == [url(code) for code in codes]


def test_one_code_or_a_range_can_be_reprinted(roster, tmp_path):
    codes = batch_codes(SECRET, BATCH, 25)
    out = tmp_path / "again.pdf"
    typed = format_code(codes[16]).lower().replace("-", " ")
    cli.main([*roster, "--pdf", str(out), "--only", "10-12", "--only", typed])
    assert qr_codes(out) == [url(codes[i]) for i in (9, 10, 11, 16)]


def test_a_revoked_voucher_is_not_reprinted(roster, tmp_path):
    with pytest.raises(SystemExit, match="voucher 3 is revoked"):
        cli.main([*roster, "--pdf", str(tmp_path / "x.pdf"), "--only", "2-4"])


def test_a_csv_for_mail_merge(roster, tmp_path):
    out = tmp_path / "cards.csv"
    cli.main([*roster, "--csv", str(out), "--only", "1-2", "--csv-delimiter", ";"])
    rows = list(csv.DictReader(io.StringIO(out.read_text()), delimiter=";"))
    codes = batch_codes(SECRET, BATCH, 2)
    assert [(r["index"], r["code"], r["username"], r["login_url"]) for r in rows] == [
        (str(i), format_code(c), c, url(c)) for i, c in enumerate(codes, start=1)]
    assert rows[0]["limits_en"] == "2 h online, 5 GiB of data"
    assert rows[0]["wifi_name"] == "CAMPUS-INVITES"


def test_the_card_layout_is_a_file_admins_change(roster, tmp_path):
    layout = tmp_path / "thermal.yml"
    layout.write_text(textwrap.dedent("""\
        page: A4
        card: {width: 58, height: 40}
        grid: {columns: 3, rows: 7, left: 5, top: 5}
        texts:
          fr: {hello: "Bienvenue à la bibliothèque"}
          en: {hello: "Welcome to the library"}
        elements:
          - {name: hello, type: T, x1: 2, y1: 2, x2: 56, y2: 6, size: 8, text: "{hello_1}"}
          - {name: code, type: T, x1: 2, y1: 7, x2: 56, y2: 14, font: courier, size: 12,
             text: "Code {code} ({batch} n°{index})"}
          - {name: qr, type: QR, x1: 2, y1: 15, x2: 24, y2: 37}
    """))
    out = tmp_path / "thermal.pdf"
    cli.main([*roster, "--pdf", str(out), "--layout", str(layout)])
    pages = pdf_text(out)
    assert len(pages) == 2  # 21 cards a page
    first = format_code(batch_codes(SECRET, BATCH, 1)[0])
    assert f"Code {first} ({BATCH} n°1)" in pages[0]
    assert "Bienvenue à la bibliothèque" in pages[0]
    assert "Welcome" not in pages[0]


def test_a_bad_layout_names_its_file_and_problem(roster, tmp_path):
    layout = tmp_path / "bad.yml"
    layout.write_text("card: {width: 58, height: 40}\ngrid: {columns: 3, rows: 7}\n"
                      "elements:\n  - {name: x, type: T, x1: 0, y1: 0, x2: 9, y2: 9, "
                      "text: '{cod}'}\n")
    with pytest.raises(SystemExit, match=r"bad.yml: elements 'x': unknown placeholder.*cod"):
        cli.main([*roster, "--pdf", str(tmp_path / "x.pdf"), "--layout", str(layout)])


def test_roster_errors_stop_printing_with_file_and_line(roster, tmp_path, capsys):
    roster_file = tmp_path / "all" / "roster.yml"
    roster_file.write_text(roster_file.read_text().replace("profile: invite",
                                                           "profile: invitee"))
    with pytest.raises(SystemExit, match="1 voucher error"):
        cli.main([*roster, "--pdf", str(tmp_path / "x.pdf")])
    err = capsys.readouterr().err
    assert "roster.yml:" in err
    assert "captiva_voucher_batches[0].profile: unknown profile 'invitee'" in err


def test_without_the_vault_password_nothing_is_printed(roster, tmp_path):
    args = list(roster)
    i = args.index("--vault-password-file")
    del args[i:i + 2]
    with pytest.raises(SystemExit, match="captiva_voucher_secret: vault-encrypted: give "
                                         "--vault-password-file"):
        cli.main([*args, "--pdf", str(tmp_path / "x.pdf")])
    assert not (tmp_path / "x.pdf").exists()


def test_a_vault_encrypted_roster_file_is_read_with_the_vault_password(roster, tmp_path):
    roster_file = tmp_path / "all" / "roster.yml"
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD))])
    roster_file.write_text(vault.encrypt(roster_file.read_text()).decode())
    out = tmp_path / "cards.csv"
    assert cli.main([*roster, "--csv", str(out), "--only", "1"]) == 0
    assert format_code(batch_codes(SECRET, BATCH, 1)[0]) in out.read_text()


def test_the_secret_may_come_from_a_file_instead_of_the_vault(roster, tmp_path):
    args = list(roster)
    i = args.index("--vault-password-file")
    del args[i:i + 2]
    (tmp_path / "all" / "vault.yml").unlink()
    secret_file = tmp_path / "voucher-secret"
    secret_file.write_text(SECRET + "\n")
    out = tmp_path / "cards.csv"
    assert cli.main([*args, "--csv", str(out), "--secret-file", str(secret_file)]) == 0
    assert format_code(batch_codes(SECRET, BATCH, 25)[24]) in out.read_text()


@pytest.mark.parametrize("seconds, fr, en", [
    (7200, "2 h", "2 h"), (5400, "1 h 30 min", "1 h 30 min"), (86400, "24 h", "24 h"),
    (3 * 86400, "3 jours", "3 days"), (1800, "30 min", "30 min"),
])
def test_durations_read_naturally_in_both_languages(seconds, fr, en):
    assert (cards.duration_text(seconds, "fr"), cards.duration_text(seconds, "en")) == (fr, en)


def test_the_default_layout_fits_long_texts_without_cutting_them():
    from fpdf import FPDF

    layout = pdf.load_layout()
    batch = {"name": "journees-portes-ouvertes-2026", "codes": ["K7HM3XPW9H"],
             "time_credit": 5400, "window_after_first_use": 3 * 86400, "data": 5 * 2**30,
             "simultaneous_use": 1, "valid_from": dt.date(2026, 3, 1),
             "valid_until": dt.date(2026, 3, 31), "language": "fr"}
    fields = cards.card_fields(batch, 1, wifi_name="CAMPUS-NDOGBONG-INVITES",
                               login_url="http://wifi/login?username={code}",
                               texts=layout["texts"])
    document = FPDF(unit="mm")
    for element in layout["elements"]:
        if element["type"] != "T" or element.get("multiline"):
            continue
        style = ("B" if element.get("bold") else "") + ("I" if element.get("italic") else "")
        document.set_font(element.get("font", "helvetica"), style, element.get("size", 10))
        text = element["text"].format(**fields)
        width = document.get_string_width(text)
        assert width <= element["x2"] - element["x1"], (element["name"], text, width)


def test_with_chap_on_plain_http_the_qr_code_opens_the_http_login_page(roster, tmp_path):
    set_roster(tmp_path, captiva_hotspot_login_by=["http-chap", "cookie"])
    out = tmp_path / "cards.csv"
    assert cli.main([*roster, "--csv", str(out), "--only", "1"]) == 0
    code = batch_codes(SECRET, BATCH, 1)[0]
    assert f"http://wifi.ndogbong.example/login#code={code}" in out.read_text()


GET_LOGIN = "http://wifi.ndogbong.example/login?username={code}&password={code}"


def test_a_get_login_with_the_password_is_refused_without_http_pap(roster, tmp_path):
    with pytest.raises(SystemExit, match=r"--login-url: this URL logs in with a GET that "
                                         r"carries the password, which the router accepts "
                                         r"only with http-pap in captiva_hotspot_login_by "
                                         r"\(it has https,cookie\)"):
        cli.main([*roster, "--csv", str(tmp_path / "x.csv"), "--login-url", GET_LOGIN])
    assert not (tmp_path / "x.csv").exists()


def test_a_get_login_with_http_pap_prints_with_a_warning(roster, tmp_path, capsys):
    set_roster(tmp_path, captiva_hotspot_login_by=["http-pap", "cookie"])
    out = tmp_path / "x.csv"
    assert cli.main([*roster, "--csv", str(out), "--login-url", GET_LOGIN, "--only", "1"]) == 0
    assert "warning: --login-url: this URL carries the code as a password in its query: it " \
           "crosses the WiFi in clear" in capsys.readouterr().err


@pytest.mark.parametrize(("login_by", "given", "message"), [
    (["http-chap", "cookie"], "https://wifi.ndogbong.example/login#code={code}",
     "an https:// URL, but captiva_hotspot_login_by has no https"),
    (["https", "cookie"], "http://wifi.ndogbong.example/login#code={code}",
     "an http:// URL, but captiva_hotspot_login_by logs in over HTTPS only"),
    (["mac"], None, "QR codes: captiva_hotspot_login_by has no login method with a form"),
])
def test_a_card_url_the_login_methods_cannot_serve_is_refused(roster, tmp_path, login_by,
                                                               given, message):
    set_roster(tmp_path, captiva_hotspot_login_by=login_by)
    more = ["--login-url", given] if given else []
    with pytest.raises(SystemExit, match=message):
        cli.main([*roster, "--csv", str(tmp_path / "x.csv"), *more])


@pytest.mark.parametrize(("declared", "printed"), [
    ("5MB", "5 MB"), ("5GiB", "5 GiB"), ("1GB", "1 GB"), ("500MiB", "500 MiB"),
    ("1500MB", "1500 MB"), ("1000KiB", "1000 KiB"), (123, "123 B"),
])
def test_a_data_cap_prints_exactly_in_the_unit_it_was_declared_in(declared, printed):
    from captiva.vouchers import module_utils

    n_bytes = module_utils().units.parse_size(declared)
    assert cards.size_text(n_bytes, module_utils().units.SIZE_UNITS) == printed
    assert cards.limits({"data": n_bytes}, "en") == f"{printed} of data"
