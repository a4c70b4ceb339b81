"""Registrar CSV files into the roster (issue 15): what registrars really export, bad rows
reported by CSV line and column with nothing written, idempotent merges that keep the YAML
file's comments and order, strong generated passwords stored as the inventory says."""

import shutil
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt
from pypdf import PdfReader

from captiva.onboarding import csv_import, inventory
from captiva.onboarding.cli import main
from captiva.onboarding.csv_import import CsvImportError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example"


def read(data: bytes, **kwargs):
    table = csv_import.read_csv(data, **kwargs)
    assert not table.problems
    return table.headers, table.rows


def test_a_french_spreadsheet_export_bom_semicolons_crlf_quotes():
    data = ("\ufeffMatricule;Prénom;Nom\r\n"
            'STU1;"Amélie";"Ngo; dite ""Mimi"""\r\n').encode("utf-8")
    headers, rows = read(data)
    assert headers == ["Matricule", "Prénom", "Nom"]
    assert rows[0].values == {"Matricule": "STU1", "Prénom": "Amélie", "Nom": 'Ngo; dite "Mimi"'}
    assert rows[0].line == 2


def test_windows_1252_accents_are_detected_or_set():
    data = "Matricule,Nom\nSTU1,Hélène Œuvray\n".encode("cp1252")
    assert read(data)[1][0].values["Nom"] == "Hélène Œuvray"
    latin1 = "Matricule,Nom\nSTU1,Hélène\n".encode("latin-1")
    assert read(latin1, encoding="latin-1")[1][0].values["Nom"] == "Hélène"


def test_a_quoted_field_across_lines_keeps_the_line_numbers_of_later_rows():
    data = b'id,nom\nA1,"two\nlines"\nA2,x\n'
    rows = read(data)[1]
    assert [r.line for r in rows] == [2, 4]


def test_common_french_headers_are_mapped_and_an_explicit_map_wins():
    headers = ["Matricule", "Prénom", "NOM", "Courriel", "Numéro"]
    mapping = csv_import.column_mapping(headers, {"username": "Numéro"})
    assert mapping == {"username": "Numéro", "first_name": "Prénom", "last_name": "NOM",
                       "email": "Courriel"}


def test_a_mapping_to_a_missing_column_names_the_columns_there_are():
    with pytest.raises(CsvImportError) as error:
        csv_import.column_mapping(["Nom"], {"username": "Matricule"}, source="rentree.csv")
    assert error.value.problems == [
        "mapping: username = 'Matricule': no such column in rentree.csv (its columns: Nom)"]


def test_generated_passwords_are_strong_and_unambiguous():
    passwords = {csv_import.generate_password() for _ in range(2000)}
    assert len(passwords) == 2000
    for password in passwords:
        assert len(password) >= 10
        assert not set(password) & set("0Oo1lIL")


@pytest.fixture
def inv(tmp_path):
    target = tmp_path / "example"
    shutil.copytree(EXAMPLE, target)
    return target


def users_text(inv):
    return (inv / "group_vars" / "all" / "users.yml").read_text()


def write_csv(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "rentree.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_bad_rows_name_line_and_column_and_nothing_is_written(inv, tmp_path, capsys):
    before = users_text(inv)
    csv = write_csv(tmp_path, "Matricule;Nom;Courriel\n"
                              "STU2026001;Ngo;amelie@etu.cm\n"
                              "STU2026002;Bi;pas-un-courriel\n"
                              "STU 2026003;Eto;e@etu.cm\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025"]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:3: column Courriel: invalid email address 'pas-un-courriel'" in err
    assert f"{csv}:4: column Matricule: invalid username 'STU 2026003'" in err
    assert "nothing written" in err
    assert users_text(inv) == before


def test_a_username_twice_in_the_file_is_refused(inv, tmp_path, capsys):
    csv = write_csv(tmp_path, "Matricule\nSTU2026001\nstu2026001\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025"]) == 1
    assert (f"{csv}:3: column Matricule: username 'stu2026001' is already on line 2"
            in capsys.readouterr().err)


def test_every_bad_row_is_reported_in_one_run_and_nothing_is_written(inv, tmp_path, capsys):
    """Issue 26: four different bad rows, four located errors at once (a duplicate used to
    hide the others until it was fixed), in the file's order; nothing written."""
    before = users_text(inv)
    csv = write_csv(tmp_path, "Matricule;Nom;Courriel;Promotion\n"
                              "STU2026001;Ngo;amelie@etu.cm;L1-INFO-2025\n"       # 2 good
                              "stu2026001;Ngo;amelie2@etu.cm;L1-INFO-2025\n"      # 3 duplicate
                              "STU2026002;Bi;pas-un-courriel;L1-INFO-2025\n"      # 4 email
                              "STU 2026003;Eto;e@etu.cm;L1-INFO-2025\n"           # 5 username
                              "STU2026004;Ewane;f@etu.cm;L1-INF-2025\n"           # 6 promotion
                              "STU2026005;Mbia;g@etu.cm;L1-INFO-2025\n")          # 7 good
    assert main(["import-csv", str(inv), str(csv), "--letters", str(tmp_path / "letters")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("error: ")]
    assert errors == [
        f"error: {csv}:3: column Matricule: username 'stu2026001' is already on line 2 "
        "(usernames are case-insensitive)",
        f"error: {csv}:4: column Courriel: invalid email address 'pas-un-courriel'",
        errors[2],
        f"error: {csv}:6: column Promotion: unknown promotion 'L1-INF-2025' (did you mean "
        "'L1-INFO-2025'?)",
    ]
    assert errors[2].startswith(f"error: {csv}:5: column Matricule: invalid username "
                                "'STU 2026003'")
    assert users_text(inv) == before
    assert not (tmp_path / "letters").exists()


def test_a_row_with_too_many_fields_is_reported_with_the_others(inv, tmp_path, capsys):
    csv = write_csv(tmp_path, "Matricule,Nom\nSTU2026001,Ngo,extra\nSTU 2026002,Bi\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025"]) == 1
    err = capsys.readouterr().err
    assert f"error: {csv}:2: 3 fields, the header has 2" in err
    assert f"error: {csv}:3: column Matricule: invalid username 'STU 2026002'" in err


def test_an_unknown_promotion_option_is_one_error_not_one_a_row(inv, tmp_path, capsys):
    csv = write_csv(tmp_path, "Matricule\nSTU2026001\nSTU2026002\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2026"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == ["error: --promotion L1-INFO-2026: unknown promotion 'L1-INFO-2026' "
                      "(did you mean 'L1-INFO-2025'?)"]


def test_import_merges_keeps_comments_and_is_idempotent(inv, tmp_path, capsys):
    before = users_text(inv)
    csv = write_csv(tmp_path, "\ufeffMatricule;Prénom;Nom;Courriel;Langue\r\n"
                              "STU2026001;Amélie;Ngo;amelie@etu.cm;fr\r\n"
                              "STU2025001;Arnaud;Eyenga-Mbarga;arnaud@etu.cm;en\r\n")
    args = ["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
            "--letters", str(tmp_path / "letters"), "--wifi-name", "UNIV-WIFI"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "users: +1 ~1 -0" in out
    after = users_text(inv)
    # The header comment and every untouched user survive byte for byte.
    assert after.startswith(before.split("captiva_users:")[0])
    assert after.count("username: STU2025001") == 1
    document = inventory.load(inv / "group_vars" / "all" / "users.yml")
    users = {u["username"]: u for u in document["captiva_users"]}
    assert users["STU2025001"]["last_name"] == "Eyenga-Mbarga"
    assert "password" in users["STU2025001"]           # the existing vaulted password is kept
    new = users["STU2026001"]
    assert new["promotion"] == "L1-INFO-2025"
    # Hashed storage: the hash is in the file, the cleartext only in the letter.
    text = PdfReader(tmp_path / "letters" / "STU2026001.pdf").pages[0].extract_text()
    password = text.split("Mot de passe initial")[1].split()[0]
    assert sha512_crypt.verify(password, new["password_hash"])
    assert password not in after
    assert "UNIV-WIFI" in text and "https://wifi.univ-exemple.cm/" in text
    assert (tmp_path / "letters" / "STU2026001.pdf").stat().st_mode & 0o077 == 0
    # Again: nothing changes, no password is regenerated.
    assert main(args) == 0
    assert "users: +0 ~0 -0 (2 unchanged)" in capsys.readouterr().out
    assert users_text(inv) == after


def test_dry_run_shows_the_diff_without_passwords_and_writes_nothing(inv, tmp_path, capsys):
    before = users_text(inv)
    csv = write_csv(tmp_path, "Matricule,Nom\nSTU2026001,Ngo\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+  - username: STU2026001" in out
    # The new user's hash (and those around it) masked: the output lands in CI logs.
    assert "+    password_hash: |-\n+      ********\n" in out
    assert "$6$" not in out
    assert "dry run: nothing written" in out
    assert users_text(inv) == before


def test_users_missing_from_the_file_stay_unless_prune(inv, tmp_path, capsys):
    count = users_text(inv).count("- username:")
    csv = write_csv(tmp_path, "Matricule,Nom\nSTU2025001,Eyenga\n")
    assert main(["import-csv", str(inv), str(csv)]) == 0
    assert users_text(inv).count("- username:") == count
    # Pruning would remove the helpdesk's own accounts (captiva_staff): refused, by the
    # roster's rule, and nothing is written.
    assert main(["import-csv", str(inv), str(csv), "--prune"]) == 1
    assert "captiva_staff[0].username: 'staff01' is not a user" in capsys.readouterr().err
    assert users_text(inv).count("- username:") == count
    keep = "\n".join(f"staff0{i},Staff" for i in (1, 2, 3))
    csv = write_csv(tmp_path, f"Matricule,Nom\nSTU2025001,Eyenga\n{keep}\n")
    assert main(["import-csv", str(inv), str(csv), "--prune"]) == 0
    assert f"-{count - 4} " in capsys.readouterr().out
    assert users_text(inv).count("- username:") == 4


def test_new_users_without_a_promotion_are_warned_about(inv, tmp_path, capsys):
    """Issue 26: a forgotten --promotion imported students with none, without a word."""
    csv = write_csv(tmp_path, "Matricule,Nom\nSTU2026001,Ngo\nSTU2026002,Bi\n")
    assert main(["import-csv", str(inv), str(csv), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert (f"warning: {csv}: 2 new user(s) without a promotion (the CSV has no promotion "
            "column and no --promotion was given), line(s) 2, 3: they get their own profile, "
            "else captiva-default; give one with --promotion NAME (promotions: L1-INFO-2025,"
            in err)
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--dry-run"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_columns_no_field_reads_are_named(inv, tmp_path, capsys):
    csv = write_csv(tmp_path, "Matricule;Nom;Téléphone;Adresse\nSTU2026001;Ngo;699;Akwa\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert (f"warning: {csv}: 2 column(s) not imported, no roster field reads them: "
            "Téléphone, Adresse (map one with --map FIELD=COLUMN" in err)
    # Mapped, a column is no longer reported.
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025", "--dry-run",
                 "--map", "email=Adresse"]) == 1
    err = capsys.readouterr().err
    assert "not imported, no roster field reads them: Téléphone (" in err
    assert f"{csv}:2: column Adresse: invalid email address 'Akwa'" in err


def test_the_written_users_file_passes_yamllint_strict_and_reads_back_the_same(inv, tmp_path,
                                                                               capsys):
    """Issue 26: the password_hash lines the import wrote were 125 characters, over the
    project's yamllint (120): now a literal block that every YAML reader, Ansible's too, reads
    as the same hash."""
    from ansible.parsing.dataloader import DataLoader
    from yamllint import config, linter

    csv = write_csv(tmp_path, "Matricule,Prénom,Nom\nSTU2026001,Amélie,Ngo\nSTU2026002,Léa,Bi\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--letters", str(tmp_path / "letters")]) == 0
    users_file = inv / "group_vars" / "all" / "users.yml"
    text = users_file.read_text()
    conf = config.YamlLintConfig(file=str(ROOT / ".yamllint"))
    assert [str(p) for p in linter.run(text, conf, str(users_file))] == []
    assert "password_hash: |-\n" in text
    by_ansible = {u["username"]: u for u in DataLoader().load_from_file(str(users_file))
                  ["captiva_users"]}
    for username in ("STU2026001", "STU2026002"):
        letter = PdfReader(tmp_path / "letters" / f"{username}.pdf").pages[0].extract_text()
        password = letter.split("Mot de passe initial")[1].split()[0]
        stored = by_ansible[username]["password_hash"]
        assert stored.startswith("$6$") and "\n" not in stored and len(stored) == 106
        assert sha512_crypt.verify(password, stored)
    # The roster's validation (make validate) reads it too.
    variables = inventory.Inventory(inv).variables()
    assert inventory.validate(variables)[1] == []


def test_a_wrong_encoding_names_the_file_and_the_line(inv, tmp_path, capsys):
    """Issue 26: a decode error used to say neither where nor what to do."""
    before = users_text(inv)
    csv = write_csv(tmp_path, "Matricule,Nom\nSTU2026001,Ngo\nSTU2026002,Hélène\n", "cp1252")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--encoding", "utf-8"]) == 1
    err = capsys.readouterr().err
    assert (f"error: {csv}:3: byte 0xe9 (byte 13 of the line) is not --encoding utf-8: give "
            "the right one with --encoding (utf-8, cp1252, latin-1, ...)") in err
    assert main(["import-csv", str(inv), str(csv), "--encoding", "utf-9"]) == 1
    assert "error: --encoding utf-9: unknown encoding" in capsys.readouterr().err
    # Neither UTF-8 nor Windows-1252 (0x81 is undefined there): the line, without --encoding.
    csv.write_bytes(b"Matricule,Nom\nSTU2026001,Ngo\nSTU2026002,\x81\n")
    assert main(["import-csv", str(inv), str(csv)]) == 1
    assert (f"error: {csv}:3: byte 0x81 (byte 12 of the line) is not UTF-8 nor Windows-1252"
            in capsys.readouterr().err)
    assert users_text(inv) == before


def test_utf8_read_as_latin1_is_warned_about(inv, tmp_path, capsys):
    csv = write_csv(tmp_path, "Matricule,Nom\nSTU2026001,Hélène\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--encoding", "latin-1", "--dry-run"]) == 0
    assert (f"warning: {csv}: the file is valid UTF-8 but read as latin-1: its accents will be "
            "garbled ('é' read as 'Ã©'); drop --encoding latin-1" in capsys.readouterr().err)


def letter_text(path) -> str:
    return " ".join(PdfReader(path).pages[0].extract_text().split())


def test_the_letters_name_the_wifi_from_the_inventory_and_read_right_without_it(
        inv, tmp_path, capsys):
    """Issue 26: with captiva_wifi_name unset the letters said "Connectez-vous au réseau WiFi
    WiFi."; now they say "the campus WiFi network" (and the command warns), and an inventory
    that sets it gets its name on every letter without --wifi-name."""
    csv = write_csv(tmp_path, "Matricule;Prénom;Langue\nSTU2026001;Amélie;fr\nSTU2026002;John;en\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--letters", str(tmp_path / "unnamed")]) == 0
    assert ("warning: captiva_wifi_name is not set and no --wifi-name was given"
            in capsys.readouterr().err)
    french = letter_text(tmp_path / "unnamed" / "STU2026001.pdf")
    assert "1. Connectez-vous au réseau WiFi du campus." in french
    assert "Réseau WiFi" not in french and "WiFi WiFi" not in french
    english = letter_text(tmp_path / "unnamed" / "STU2026002.pdf")
    assert "1. Join the campus WiFi network." in english and "WiFi WiFi" not in english

    settings = inv / "group_vars" / "all" / "settings.yml"
    settings.write_text(settings.read_text() + "captiva_wifi_name: UNIV-EXEMPLE\n")
    csv = write_csv(tmp_path, "Matricule;Prénom\nSTU2026003;Léa\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--letters", str(tmp_path / "named")]) == 0
    assert "warning" not in capsys.readouterr().err
    named = letter_text(tmp_path / "named" / "STU2026003.pdf")
    assert "1. Connectez-vous au réseau WiFi UNIV-EXEMPLE." in named
    assert "Réseau WiFi UNIV-EXEMPLE" in named
    # --wifi-name still wins over the inventory's.
    csv = write_csv(tmp_path, "Matricule;Prénom\nSTU2026004;Paul\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--letters", str(tmp_path / "given"), "--wifi-name", "UNIV-INVITES"]) == 0
    assert "réseau WiFi UNIV-INVITES." in letter_text(tmp_path / "given" / "STU2026004.pdf")


def test_the_site_defaults_document_the_wifi_name():
    defaults = inventory.load_plain(inventory.DEFAULTS)
    assert defaults["captiva_wifi_name"] == ""
    assert "| `captiva_wifi_name` |" in (ROOT / "README.md").read_text()


def test_the_documented_import_runs_as_written(tmp_path):
    """docs/onboarding.md's first example, run as written from a checkout's root (a copy of
    the example inventory, so nothing of the repository is touched): issue 26 found it naming
    a promotion the example inventory does not have."""
    import subprocess

    doc = (ROOT / "docs" / "onboarding.md").read_text()
    section = doc.split("## Import a CSV\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    for name in ("Makefile", "mk", "lab", ".venv", "requirements.txt", "captiva", "ansible.cfg"):
        (tmp_path / name).symlink_to(ROOT / name)
    shutil.copytree(EXAMPLE, tmp_path / "inventories" / "example")
    before = users_text(tmp_path / "inventories" / "example")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("users: +2 ~0 -0 (0 unchanged)") == 2, run.stdout
    assert run.stdout.count("dry run: nothing written") == 2
    assert "+  - username: STU2025902" in run.stdout
    assert users_text(tmp_path / "inventories" / "example") == before


def test_an_unreadable_enabled_value_is_an_error_not_a_disabled_account(inv, tmp_path, capsys):
    csv = write_csv(tmp_path, "Matricule;Actif\nSTU2026001;oui\nSTU2026002;Non\n"
                              "STU2026003;peut-être\n")
    assert main(["import-csv", str(inv), str(csv), "--promotion", "L1-INFO-2025",
                 "--dry-run"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"error: {csv}:4: column Actif: ")
    table = csv_import.read_csv(csv.read_bytes())
    users = csv_import.to_users(table.rows[:2], {"username": "Matricule", "enabled": "Actif"})
    assert [u.user["enabled"] for u in users] == [True, False]


def test_languages_as_registrars_write_them():
    rows = [csv_import.CsvRow(n, {"id": f"S{n}", "lang": value}) for n, value in
            enumerate(["fr", "EN", "fr_FR", "en-GB", "Français", "English", "Deutsch"], 2)]
    users = csv_import.to_users(rows, {"username": "id", "language": "lang"})
    assert [u.user["language"] for u in users] == ["fr", "en", "fr", "en", "fr", "en", "deutsch"]
