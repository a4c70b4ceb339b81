"""The portal's log never names a code (captiva/portal/labels.py; docs/portal.md, "Labels,
never codes")."""

from captiva.portal.labels import log_name, looks_like_code

KEY = b"test-session-secret-0123456789abcdef"


def test_a_code_in_any_typed_form_is_logged_by_its_fingerprint_only():
    forms = ["K7HM3XPW9H", "k7hm-3xpw-9h", "K7HM 3XPW 9H", "k7hm3xpw9h"]
    logged = {log_name(form, KEY) for form in forms}
    assert len(logged) == 1  # one code, one fingerprint: its attempts can be followed
    (name,) = logged
    assert name.startswith("code#") and len(name) == len("code#") + 8
    assert "K7HM" not in name.upper() and "3XPW" not in name.upper()
    # look-alikes a guest may type are read as the code's characters
    assert looks_like_code("kshm-3xpw-9h")  # S for 5
    assert log_name("kshm-3xpw-9h", KEY) == log_name("K5HM3XPW9H", KEY)


def test_workstation_codes_are_masked_too():
    assert looks_like_code("P12345678") and looks_like_code("P-48291-37502-46813")
    assert log_name("P482913750246813", KEY).startswith("code#")


def test_the_fingerprint_is_keyed():
    assert log_name("K7HM3XPW9H", KEY) != log_name("K7HM3XPW9H", b"another-secret-0123456789")


def test_other_names_are_logged_escaped():
    assert log_name("STU2025001", KEY) == "'STU2025001'"
    assert log_name("alice\nforged line", KEY) == "'alice\\nforged line'"
    assert not looks_like_code("jean.dupont") and not looks_like_code("PETERSON12")
