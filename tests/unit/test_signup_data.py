"""The sign-up's pure parts (captiva/portal/student/signup_data.py): the links' tokens, the
form's checks, the registrar's list as import-csv reads it, the mails."""

from __future__ import annotations

import os

from captiva.portal.student import signup_data

SECRET = "s" * 40


def test_a_token_proves_its_request_and_purpose_only():
    token = signup_data.token(SECRET, "verify", 42)
    assert token.startswith("42.")
    assert signup_data.request_of(SECRET, "verify", token) == 42
    assert signup_data.request_of(SECRET, "status", token) is None  # another purpose
    assert signup_data.request_of("t" * 40, "verify", token) is None  # another portal
    assert signup_data.request_of(SECRET, "verify", "43." + token.split(".", 1)[1]) is None
    for bad in ("", "42", "x.y", "42.", "9" * 30 + ".abc"):
        assert signup_data.request_of(SECRET, "verify", bad) is None


def test_the_form_is_checked_and_cleaned():
    request, problems = signup_data.problems(
        {"matricule": " STU-2026.01 ", "first_name": "  Awa  Marie ", "last_name": "Ngono",
         "email": "awa@campus.test", "promotion": "L1", "language": "en"}, ["L1"])
    assert problems == []
    assert (request.matricule, request.first_name, request.language) == (
        "STU-2026.01", "Awa Marie", "en")
    _, problems = signup_data.problems(
        {"matricule": "a b", "first_name": "", "last_name": "x", "email": "awa@",
         "promotion": "L9", "language": "de"}, ["L1"])
    assert problems == ["signup.bad_matricule", "signup.bad_name", "signup.bad_email",
                        "signup.bad_promotion"]


def test_the_registrars_list_is_import_csvs_file_read_again_when_it_changes(tmp_path):
    path = tmp_path / "registrar.csv"
    path.write_bytes("Matricule;Nom;Prénom\r\nSTU01;Ngono;Awa\r\n".encode("cp1252"))
    listed = signup_data.RegistrarList(str(path))
    assert "STU01" in listed and "stu01" in listed and "STU02" not in listed
    path.write_text("Matricule;Nom;Prénom\nSTU02;Mbarga;Paul\n", encoding="utf-8")
    os.utime(path, ns=(1, 2))  # a new modification time, whatever the clock's resolution
    assert "STU02" in listed and "STU01" not in listed


def test_mails_are_in_the_requests_language_with_their_values():
    mail = signup_data.mail("rejected", "awa@campus.test", "fr", first_name="Awa",
                            matricule="STU01", site_name="Captiva", reason="Pas inscrite",
                            status_url="https://wifi.campus.test/signup/status/1.x")
    assert mail.subject == "Wi-Fi : demande de compte refusée"
    assert "Pas inscrite" in mail.body and "/signup/status/1.x" in mail.body
    assert signup_data.mail("verify", "a@b.c", "xx", first_name="A").subject.startswith(
        "Wi-Fi : confirmez")  # an unknown language: French, the portal's default
