"""A roster username shaped like a voucher code is refused: FreeRADIUS would take it for a
code (policy.d/captiva_voucher writes it compact and upper case, so its radcheck rows are
never found) and its failures would count as guesses at codes (policy.d/captiva_guess)."""

import re
from pathlib import Path

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import TYPED_CODE
from roster_base import base_variables

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ["maryhannah", "MARY-HANN-AH", "mary hann ah", "K7HM3XPW9H", " k7hm-3xpw-9h ",
           "alice.mbarga", "marie-anne", "STU2025001", "maryhanna", "maryhannahs", "mary--hannah",
           "bob", "P482913750246813"]


def user(username):
    return {"username": username, "password": "long-enough-password-1",
            "promotion": "L3-INFO-2025", "email": "someone@campus.test"}


def test_a_username_shaped_like_a_voucher_code_is_refused():
    variables = base_variables()
    variables["captiva_users"] = [user("alice.mbarga"), user("maryhannah")]
    roster, errors = validate(variables)
    assert roster is None
    assert [(e.path, e.reason.split(":")[0]) for e in errors] == [
        ("captiva_users[1].username",
         "'maryhannah' has the shape of a voucher code (10 characters of "
         "23456789ACEFHJKMNPRTWXY, any case)")]


def test_the_roster_and_freeradius_read_the_same_usernames_as_codes():
    policy = (ROOT / "roles/freeradius/templates/policy.d/captiva_voucher.j2").read_text()
    freeradius = re.search(r"if \(&User-Name =~ /([^/]+)/\)", policy).group(1)
    freeradius = re.compile(freeradius.replace("[[:space:]]", r"\s"))
    verdicts = [(text, bool(TYPED_CODE.match(text)), bool(freeradius.match(text)))
                for text in SAMPLES]
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert [text for text, roster, _ in verdicts if roster] == SAMPLES[:5]
