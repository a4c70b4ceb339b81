"""Voucher batches: validation with file/line/YAML path, derived codes and their check."""

import datetime as dt
import itertools
import math
import textwrap

import pytest
import yaml
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import Locator
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    ALPHABET,
    CODE_LENGTH,
    MAX_BATCH_COUNT,
    VoucherCodeError,
    batch_codes,
    check_character,
    checksum_ok,
    compile_vouchers,
    derive_code,
    format_code,
    normalise,
    validate_batches,
)

SECRET = "s3cr3t-for-tests-only-0123456789abcdef"
ROSTER = {
    "profiles": {"invite", "etudiant-standard", "captiva-default"},
    "sites": {"campus-ndogbong": "Africa/Douala", "campus-yaounde": None},
    "usernames": {"alice.m"},
    "default_timezone": "Africa/Douala",
    "default_language": "fr",
}


def batch(**changes):
    item = {"name": "portes-ouvertes-2026", "count": 300, "profile": "invite",
            "time_credit": "2h", "valid_from": "2026-03-01", "valid_until": "2026-03-31"}
    item.update(changes)
    return item


def check(*batches, **roster):
    variables = {"captiva_voucher_batches": list(batches), "captiva_voucher_secret": SECRET}
    return validate_batches(variables, **dict(ROSTER, **roster))


def reasons(*batches, **roster):
    result, errors = check(*batches, **roster)
    assert result is None
    return [f"{e.path}: {e.reason}" for e in errors]


# --------------------------------------------------------------------------------------------
# Codes


def test_the_alphabet_has_no_ambiguous_characters_and_a_code_has_40_bits():
    assert not set("0O1IL") & set(ALPHABET)
    assert not set("DQZSGBUV") & set(ALPHABET)  # look like 0, 2, 5, 6, 8 or each other
    assert len(set(ALPHABET)) == len(ALPHABET) == 23
    assert math.log2(len(ALPHABET)) * (CODE_LENGTH - 1) >= 40


def test_codes_are_derived_from_the_secret_batch_and_index():
    code = derive_code(SECRET, "portes-ouvertes-2026", 1)
    assert code == derive_code(SECRET, "portes-ouvertes-2026", 1)  # same on every run
    assert code != derive_code(SECRET, "portes-ouvertes-2026", 2)
    assert code != derive_code(SECRET, "portes-ouvertes-2027", 1)
    assert code != derive_code(SECRET + "x", "portes-ouvertes-2026", 1)
    assert len(code) == CODE_LENGTH and checksum_ok(code)


def test_codes_are_spread_over_the_alphabet():
    codes = batch_codes(SECRET, "spread", 2000)
    counts = {char: sum(code[:-1].count(char) for code in codes) for char in ALPHABET}
    expected = 2000 * 9 / 23
    assert all(0.85 * expected < n < 1.15 * expected for n in counts.values())


def test_growing_a_batch_adds_codes_and_changes_none():
    assert batch_codes(SECRET, "b", 500)[:300] == batch_codes(SECRET, "b", 300)
    assert len(set(batch_codes(SECRET, "b", 500))) == 500


def test_codes_are_grouped_for_reading_aloud():
    code = derive_code(SECRET, "b", 7)
    grouped = format_code(code)
    assert [len(part) for part in grouped.split("-")] == [4, 4, 2]
    assert grouped.replace("-", "") == code


def _all_codes_one_error_away(code):
    for i, char in enumerate(code):
        for other in ALPHABET:
            if other != char:
                yield "substitution", code[:i] + other + code[i + 1:]
    for gap in (1, 2):  # adjacent and once-removed transpositions
        for i in range(len(code) - gap):
            a, b = code[i], code[i + gap]
            if a != b:
                swapped = list(code)
                swapped[i], swapped[i + gap] = b, a
                yield "transposition", "".join(swapped)


def test_the_check_character_catches_every_substitution_and_adjacent_transposition():
    # Exhaustive over every error of these kinds, for many codes: not a single one passes.
    caught = 0
    for index in range(1, 201):
        code = derive_code(SECRET, "proof", index)
        for kind, typo in _all_codes_one_error_away(code):
            assert not checksum_ok(typo), (kind, code, typo)
            caught += 1
    assert caught == 200 * (10 * 22 + 9 + 8) - sum(  # minus swaps of equal characters
        sum(1 for gap in (1, 2) for i in range(10 - gap) if c[i] == c[i + gap])
        for c in (derive_code(SECRET, "proof", n) for n in range(1, 201)))


def test_the_check_character_proof_holds_for_every_pair_of_values():
    # The argument behind the test above, checked for all values rather than sampled codes:
    # a substitution at position p changes the sum by p * (a - b), a transposition of
    # positions p, p + g by g * (a - b); both are non-zero modulo the prime 23.
    n = len(ALPHABET)
    for a, b in itertools.permutations(range(n), 2):
        assert all(p * (a - b) % n for p in range(1, CODE_LENGTH + 1))
        assert all(g * (a - b) % n for g in (1, 2))


@pytest.mark.parametrize("typed", [
    "{grouped}", "{compact}", "{lower}", "  {spaced} ", "{grouped_lower}",
])
def test_typed_input_is_normalised(typed):
    code = derive_code(SECRET, "b", 3)
    grouped = format_code(code)
    forms = {"grouped": grouped, "compact": code, "lower": code.lower(),
             "spaced": grouped.replace("-", " "), "grouped_lower": grouped.lower()}
    assert normalise(typed.format(**forms)) == code


def test_lookalike_letters_become_the_digit_they_look_like():
    data = "K7HM3XPW5"
    code = data + check_character(data)
    assert normalise(code.replace("5", "S")) == code


@pytest.mark.parametrize("typed, message", [
    ("K7HM-3XPW", "A code has 10 characters"),
    ("K7HM-3XPW-9O", "character never used in codes: O"),
    ("K7HM-3XPW-9J", "Code mistyped"),
    ("K7MH-3XPW-9H", "Code mistyped"),
])
def test_a_mistyped_code_is_refused_before_radius_sees_it(typed, message):
    assert checksum_ok("K7HM3XPW9H")
    with pytest.raises(VoucherCodeError, match=message):
        normalise(typed)


# --------------------------------------------------------------------------------------------
# Validation


def test_a_valid_batch_is_normalised():
    batches, errors = check(batch(data="5GiB", sites=["campus-ndogbong"], revoked=[17, 42]))
    assert errors == []
    (result,) = batches
    assert result["time_credit"] == 7200
    assert result["window_after_first_use"] is None
    assert result["data"] == 5 * 2**30  # exact integer bytes, above 4 GiB
    assert result["simultaneous_use"] == 1
    assert result["language"] == "fr"
    assert result["starts_at"] == dt.datetime(2026, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert result["ends_at"] == dt.datetime(2026, 4, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert result["codes"] == batch_codes(SECRET, "portes-ouvertes-2026", 300)
    assert result["revoked_indexes"] == [17, 42]


def test_a_code_can_be_revoked_as_printed():
    printed = format_code(derive_code(SECRET, "portes-ouvertes-2026", 5)).lower()
    batches, errors = check(batch(revoked=[printed, 9]))
    assert errors == [] and batches[0]["revoked_indexes"] == [5, 9]


def test_both_clocks_may_be_set():
    batches, errors = check(batch(window_after_first_use="24h"))
    assert errors == [] and batches[0]["window_after_first_use"] == 86400


def test_no_batches_need_no_secret():
    assert validate_batches({}, **ROSTER) == ([], [])


@pytest.mark.parametrize("changes, expected", [
    ({"profile": "invitee"},
     "captiva_voucher_batches[0].profile: unknown profile 'invitee' (did you mean 'invite'?)"),
    ({"valid_from": "2026-04-01"},
     "captiva_voucher_batches[0].valid_until: valid_until (2026-03-31) is before valid_from "
     "(2026-04-01)"),
    ({"time_credit": None},
     "captiva_voucher_batches[0].time_credit: set time_credit (online time) or "
     "window_after_first_use (wall-clock time from the first login), or both"),
    ({"time_credit": "0s"}, "captiva_voucher_batches[0].time_credit: time_credit must be "
                            "greater than zero"),
    ({"time_credit": "2 hours"}, "captiva_voucher_batches[0].time_credit: invalid duration "
                                 "'2 hours': expected e.g. '30s', '10m', '8h', '1d' or '1h30m'"),
    ({"data": "1.5B"}, "captiva_voucher_batches[0].data: invalid size '1.5B': not a whole "
                       "number of bytes"),
    ({"count": MAX_BATCH_COUNT + 1}, f"captiva_voucher_batches[0].count: {MAX_BATCH_COUNT + 1}"
                                     f" is out of range: must be between 1 and "
                                     f"{MAX_BATCH_COUNT}"),
    ({"simultaneous_use": 0}, "captiva_voucher_batches[0].simultaneous_use: 0 is out of "
                              "range: must be at least 1"),
    ({"sites": ["campus-ndogbon"]}, "captiva_voucher_batches[0].sites[0]: unknown site "
                                    "'campus-ndogbon' (did you mean 'campus-ndogbong'?)"),
    ({"language": "de"}, "captiva_voucher_batches[0].language: unknown language 'de': "
                         "expected one of fr, en"),
    ({"revoked": [301]}, "captiva_voucher_batches[0].revoked[0]: voucher 301 does not exist: "
                         "the batch has 300 vouchers"),
    ({"revoked": ["K7HM-3XPW-9H"]}, "captiva_voucher_batches[0].revoked[0]: K7HM-3XPW-9H is "
                                    "not a code of batch 'portes-ouvertes-2026'"),
    ({"revoked": ["K7HM-3XPW-9J"]}, "captiva_voucher_batches[0].revoked[0]: invalid voucher "
                                    "code 'K7HM-3XPW-9J': expected an index (1, 2, ...) or a "
                                    "code such as K7HM-3XPW-9H"),
    ({"revoked": [3, 3]}, "captiva_voucher_batches[0].revoked[1]: voucher 3 is revoked twice"),
    ({"validity": "1d"}, "captiva_voucher_batches[0].validity: unknown key"),
])
def test_an_invalid_batch_is_reported_with_its_path_and_reason(changes, expected):
    assert reasons(batch(**changes)) == [expected]


def test_batch_names_are_unique():
    assert reasons(batch(), batch(count=5)) == [
        "captiva_voucher_batches[1].name: duplicate batch name 'portes-ouvertes-2026' "
        "(already used by captiva_voucher_batches[0])"]


def test_the_total_count_is_capped():
    many = [batch(name=f"b{i}", count=MAX_BATCH_COUNT) for i in range(21)]
    variables = {"captiva_voucher_batches": many, "captiva_voucher_secret": SECRET}
    # Deriving 210,000 codes is the slow part; the cap is checked on the counts.
    _, errors = validate_batches(variables, **ROSTER)
    assert [f"{e.path}: {e.reason}" for e in errors] == [
        "captiva_voucher_batches: 210000 vouchers in all: at most 200000; remove batches "
        "that have ended"]


def test_the_secret_is_required_and_long():
    variables = {"captiva_voucher_batches": [batch()], "captiva_voucher_secret": "short"}
    _, errors = validate_batches(variables, **ROSTER)
    assert [e.path for e in errors] == ["captiva_voucher_secret"]
    assert "at least 32 characters" in errors[0].reason
    assert "short" not in errors[0].reason  # never echo a secret


def test_a_code_that_is_a_username_is_refused():
    code = derive_code(SECRET, "portes-ouvertes-2026", 12)
    assert reasons(batch(), usernames={code.lower()}) == [
        f"captiva_voucher_batches[0].name: voucher 12's code {format_code(code)} is the "
        f"username {code.lower()!r}: rename that user or this batch"]


def test_errors_point_at_the_file_and_line(tmp_path):
    roster = tmp_path / "vouchers.yml"
    roster.write_text(textwrap.dedent("""\
        captiva_voucher_secret: s3cr3t-for-tests-only-0123456789abcdef
        captiva_voucher_batches:
          - name: portes-ouvertes-2026
            count: 300
            profile: invitee
            time_credit: 2h
            valid_from: 2026-03-01
            valid_until: 2026-02-28
    """))
    variables = yaml.safe_load(roster.read_text())
    _, errors = validate_batches(variables, **ROSTER)
    locator = Locator([str(roster)], display_root=str(tmp_path))
    assert [e.render(locator) for e in errors] == [
        "vouchers.yml:5: captiva_voucher_batches[0].profile: unknown profile 'invitee' "
        "(did you mean 'invite'?)",
        "vouchers.yml:8: captiva_voucher_batches[0].valid_until: valid_until (2026-02-28) is "
        "before valid_from (2026-03-01)",
    ]


def test_dates_are_read_in_the_sites_timezone_else_the_default():
    batches, _ = check(batch(sites=["campus-ndogbong"]), default_timezone="Europe/Paris")
    assert batches[0]["timezone"] == "Africa/Douala"
    batches, _ = check(batch(sites=["campus-ndogbong", "campus-yaounde"]),
                       default_timezone="Europe/Paris")
    assert batches[0]["timezone"] == "Europe/Paris"
    assert batches[0]["starts_at"].utcoffset() == dt.timedelta(hours=1)  # CET in March 1st


def test_compiled_rows_give_each_code_its_batch_profile_and_revocations():
    batches, _ = check(batch(count=4, revoked=[2], data="5GiB"),
                       batch(name="conference", count=2, window_after_first_use="3d",
                             time_credit=None, profile="etudiant-standard"))
    compiled = compile_vouchers(batches)
    codes = batch_codes(SECRET, "portes-ouvertes-2026", 4) + batch_codes(SECRET, "conference", 2)
    assert list(compiled["radius_users"]) == codes
    assert compiled["radius_users"][codes[0]] == {
        "group": "invite", "password": {"scheme": "cleartext", "value": codes[0]}, "check": []}
    assert compiled["radius_users"][codes[5]]["group"] == "etudiant-standard"
    tables = compiled["tables"]
    assert [(r["code"], r["batch"], r["index"]) for r in tables["captiva_voucher"]] == [
        *[(c, "portes-ouvertes-2026", i) for i, c in enumerate(codes[:4], start=1)],
        (codes[4], "conference", 1), (codes[5], "conference", 2)]
    assert tables["captiva_voucher_revocation"] == [{"code": codes[1], "source": "roster"}]
    first, second = tables["captiva_voucher_batch"]
    assert (first["data_cap"], first["time_credit"], first["window_after_first_use"]) == (
        5 * 2**30, 7200, None)
    assert (second["time_credit"], second["window_after_first_use"]) == (None, 3 * 86400)
    assert compiled["summary"] == {"voucher_batches": 2, "vouchers": 6, "vouchers_revoked": 1}


def test_growing_a_batch_only_adds_rows():
    small, _ = check(batch(count=3))
    large, _ = check(batch(count=5))
    before = compile_vouchers(small)["tables"]["captiva_voucher"]
    after = compile_vouchers(large)["tables"]["captiva_voucher"]
    assert after[:3] == before and len(after) == 5
