"""Welcome letters mailed through the quota jobs' mail path (issue 15): each new student with
an email gets their letter as a PDF over STARTTLS with AUTH, received by a real SMTP server;
the users file is written only after the mail went out."""

import email
import shutil
from pathlib import Path

from pypdf import PdfReader
from test_quota_jobs import smtp_server  # noqa: F401  (fixture)

from captiva.onboarding.cli import main

ROOT = Path(__file__).resolve().parents[2]


def smtp_toml(tmp_path, server, password="mail-pass"):  # noqa: S107  (the test server's)
    path = tmp_path / "smtp.toml"
    path.write_text(f'[smtp]\nhost = "localhost"\nport = {server["port"]}\n'
                    f'username = "captiva"\npassword = "{password}"\nfrom = "wifi@univ.test"\n'
                    f'ca_file = "{server["ca"]}"\n')
    return path


def test_new_students_receive_their_letter_by_mail(tmp_path, smtp_server, capsys):  # noqa: F811
    inv = tmp_path / "example"
    shutil.copytree(ROOT / "inventories" / "example", inv)
    csv = tmp_path / "rentree.csv"
    csv.write_text("Matricule;Prénom;Courriel;Langue\n"
                   "STU2026001;Amélie;amelie@etu.test;fr\n"
                   "STU2026002;John;john@etu.test;en\n"
                   "STU2026003;Sans;;fr\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--mail", str(smtp_toml(tmp_path, smtp_server)), "--wifi-name", "UNIV"]) == 0
    captured = capsys.readouterr()
    assert "welcome letters mailed: 2" in captured.out
    assert "no email, not mailed (print their letters): STU2026003" in captured.err

    messages = smtp_server["handler"].messages
    assert [m["to"] for m in messages] == [["amelie@etu.test"], ["john@etu.test"]]
    assert all(m["tls"] and m["auth"] for m in messages)
    english = email.message_from_string(messages[1]["data"])
    assert english["Subject"] == "Your WiFi credentials"
    attachment = next(p for p in english.walk() if p.get_content_type() == "application/pdf")
    pdf = tmp_path / "john.pdf"
    pdf.write_bytes(attachment.get_payload(decode=True))
    text = PdfReader(pdf).pages[0].extract_text()
    assert "Initial password" in text and "STU2026002" in text and "UNIV" in text


def test_a_mail_failure_writes_nothing(tmp_path, smtp_server, capsys):  # noqa: F811
    inv = tmp_path / "example"
    shutil.copytree(ROOT / "inventories" / "example", inv)
    users = inv / "group_vars" / "all" / "users.yml"
    before = users.read_text()
    csv = tmp_path / "rentree.csv"
    csv.write_text("Matricule;Courriel\nSTU2026001;amelie@etu.test\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--mail", str(smtp_toml(tmp_path, smtp_server, password="wrong"))]) == 1
    assert "nothing written" in capsys.readouterr().err
    assert users.read_text() == before
