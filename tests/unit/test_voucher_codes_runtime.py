"""The portal's copy of the voucher code rules (captiva.vouchers.checked) reads every input as
the rule's owner, plugins/module_utils/captiva_vouchers.normalise, does: the portal host has
neither Ansible nor the repository, so it cannot import that file."""

import random

from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    ALPHABET,
    CODE_LENGTH,
    VoucherCodeError,
    check_character,
    format_code,
    normalise,
)

from captiva.vouchers import checked


def owner(typed):
    try:
        return normalise(typed)
    except VoucherCodeError:
        return None


def test_the_runtime_reads_codes_as_the_rule_owner_does():
    rng = random.Random(23)
    samples = ["", "K7HM-3XPW-9H", "k7hm 3xpw 9h", "S7HM3XPW9H", "alice", "P482913750246813"]
    for _ in range(300):
        data = "".join(rng.choice(ALPHABET) for _ in range(CODE_LENGTH - 1))
        code = data + check_character(data)
        samples += [code, format_code(code).lower(), code.replace("5", "S").replace("2", "Z")]
        # every single substitution and adjacent swap: the check character catches each
        position = rng.randrange(CODE_LENGTH)
        other = rng.choice(ALPHABET.replace(code[position], ""))
        samples.append(code[:position] + other + code[position + 1:])
        swap = rng.randrange(CODE_LENGTH - 1)
        samples.append(code[:swap] + code[swap + 1] + code[swap] + code[swap + 2:])
        samples += [code[:-1], code + "2", code.replace(code[0], "0", 1)]
    verdicts = [(text, checked(text), owner(text)) for text in samples]
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert sum(v[1] is not None for v in verdicts) > 600  # both kinds were tried
