"""The students' password policy, the stored form, the reset links and mail
(captiva.portal.student.password_data), and ending a student's other portal sessions."""

from __future__ import annotations

import secrets
import warnings

import pytest

from captiva.portal.security import SessionStore
from captiva.portal.student import password_data as data

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt


def keys(password: str, username: str = "STU2025001", min_length: int = 10) -> list[str]:
    return [key for key, _values in data.problems(password, username, min_length)]


@pytest.mark.parametrize("password", [
    "password1234", "1234567890", "qwertyuiop", "azertyuiop", "iloveyou123", "Password2024",
    "aaaaaaaaaaaa", "football2020",
])
def test_common_passwords_are_refused_whatever_their_length(password):
    assert keys(password) == ["password.common"]


@pytest.mark.parametrize("password", [
    "violet-tandem-harbour-42", "marmalade-cobalt-ferry-19", secrets.token_urlsafe(12),
])
def test_uncommon_passwords_are_accepted(password):
    assert keys(password) == []


def test_length_username_and_control_characters():
    assert keys("Xq7#vLp2", min_length=10) == ["password.too_short"]
    assert data.problems("Xq7#vLp2", "u", 12)[0] == ("password.too_short", {"min_length": 12})
    assert keys("my-stu2025001-Wifi!") == ["password.is_username"]  # any case
    assert keys("violet-tandem\nharbour-42") == ["password.bad_characters"]
    assert keys("v" * 129 + "-Tandem-42") == ["password.too_long"]
    # zxcvbn scores at most 72 characters: a longer one is scored on those
    assert keys("violet-tandem-harbour-42-" * 5) == []
    assert keys("a" * 100) == ["password.common"]


def test_stored_form_is_sha512_crypt_unless_the_roster_stores_cleartext():
    stored = data.stored_form("violet-tandem-harbour-42", data.CRYPT)
    assert stored.startswith("$6$") and "violet" not in stored
    assert crypt.crypt("violet-tandem-harbour-42", stored) == stored
    assert data.stored_form("violet-tandem-harbour-42", data.CRYPT) != stored  # new salt
    assert data.stored_form("violet-tandem-harbour-42", data.CLEARTEXT) \
        == "violet-tandem-harbour-42"
    with pytest.raises(ValueError, match="unknown password attribute"):
        data.stored_form("x", "NT-Password")


def test_reset_tokens_links_and_mail():
    token = data.new_token()
    assert len(token) >= 43 and data.new_token() != token
    assert data.token_hash(token) != token.encode() and len(data.token_hash(token)) == 32
    url = data.reset_url("https://wifi.campus.test", token)
    assert url == f"https://wifi.campus.test/password/reset/{token}"
    french = data.reset_mail("a@campus.test", "fr", "Awa", url, "Captiva")
    english = data.reset_mail("a@campus.test", "en", "Awa", url, "Captiva")
    assert french.subject == "Wi-Fi : choisir un nouveau mot de passe"
    assert english.subject == "Wi-Fi: choose a new password"
    assert url in french.body and "30 minutes" in english.body
    assert data.reset_mail("a@campus.test", "de", None, url, "Captiva").subject \
        == french.subject  # an unknown language: French, the portal's default


def test_end_others_keeps_only_the_current_session():
    store = SessionStore("k" * 40, 900, 28800)
    _, current = store.create("alice")
    other_cookie, _ = store.create("alice")
    bob_cookie, _ = store.create("bob")
    assert store.end_others("alice", keep=current) == 1
    assert store.get(other_cookie) is None and store.get(bob_cookie) is not None
    assert store.end_others("alice", keep=None) == 1
    assert len(store) == 1
