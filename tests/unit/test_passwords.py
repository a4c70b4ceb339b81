"""The runtime's password hash: what FreeRADIUS checks, and what the reconcile keeps."""

from __future__ import annotations

import re

from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import _crypt
from passlib.hash import sha512_crypt as oracle

from captiva.passwords import sha512_crypt

# crypt(3)'s sha512-crypt with the default 5,000 rounds: no rounds= field, 16 salt characters.
SHAPE = re.compile(r"\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}")


def test_a_hash_is_sha512_crypt_with_default_rounds_and_a_fresh_salt():
    first, second = (sha512_crypt("violet-tandem-harbour-42") for _ in range(2))
    assert SHAPE.fullmatch(first) and SHAPE.fullmatch(second)
    assert first != second
    assert oracle.verify("violet-tandem-harbour-42", first)
    assert not oracle.verify("violet-tandem-harbour-43", first)


def test_the_reconcile_keeps_a_hash_the_tools_wrote():
    # A user imported by import-csv (or signed up on the portal) and declared with the same
    # password: the RADIUS reconcile keeps the hash, so a second apply changes nothing.
    stored = sha512_crypt("alice-initial-pw")
    assert _crypt("alice-initial-pw", stored) == stored
    assert _crypt("another-password", stored) != stored


def test_the_reconcile_writes_what_the_runtime_writes_and_replaces_a_broken_hash():
    # The reconcile's new hash has the runtime's shape (5,000 rounds, no rounds= field) and the
    # runtime's tools verify it; a stored value that is not a sha512-crypt hash is replaced,
    # not an error that stops the apply.
    written = _crypt("violet-tandem-harbour-42", None)
    assert SHAPE.fullmatch(written)
    assert oracle.verify("violet-tandem-harbour-42", written)
    for broken in ("$6$", "$6$short$x", "$6$rounds=oops$salt$hash"):
        replaced = _crypt("violet-tandem-harbour-42", broken)
        assert SHAPE.fullmatch(replaced)
        assert oracle.verify("violet-tandem-harbour-42", replaced)
