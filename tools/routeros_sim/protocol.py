"""RouterOS API wire codec: word lengths (all five forms), words and sentences.

A word is a length prefix followed by that many bytes; a sentence is words ended by an empty
word. Lengths are big-endian with the high bits of the first byte telling their size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

ENCODING = "utf-8"


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid API sentence."""


def encode_length(length: int) -> bytes:
    if length < 0:
        raise ValueError(f"negative word length {length}")
    if length < 0x80:
        return length.to_bytes(1, "big")
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    if length <= 0xFFFFFFFF:
        return b"\xf0" + length.to_bytes(4, "big")
    raise ValueError(f"word length {length} does not fit the API's 32-bit length")


def length_size(first: int) -> int:
    """How many bytes a length prefix takes, from its first byte."""
    if first < 0x80:
        return 1
    if first < 0xC0:
        return 2
    if first < 0xE0:
        return 3
    if first < 0xF0:
        return 4
    if first == 0xF0:
        return 5
    raise ProtocolError(f"control byte 0x{first:02x} where a word length was expected")


def decode_length(prefix: bytes) -> int:
    size = length_size(prefix[0])
    if len(prefix) != size:
        raise ProtocolError(f"length prefix of {len(prefix)} bytes, expected {size}")
    if size == 5:
        return int.from_bytes(prefix[1:], "big")
    mask = (1 << (7 * size)) - 1  # 7, 14, 21, 28 value bits
    return int.from_bytes(prefix, "big") & mask


def encode_word(word: str | bytes) -> bytes:
    data = word.encode(ENCODING) if isinstance(word, str) else word
    return encode_length(len(data)) + data


def encode_sentence(words: Iterable[str]) -> bytes:
    return b"".join(encode_word(word) for word in words) + b"\x00"


def read_word(read_exactly: Callable[[int], bytes]) -> bytes:
    first = read_exactly(1)
    size = length_size(first[0])
    prefix = first + (read_exactly(size - 1) if size > 1 else b"")
    length = decode_length(prefix)
    return read_exactly(length) if length else b""


def read_sentence(read_exactly: Callable[[int], bytes]) -> list[str]:
    """Words up to the empty word that ends the sentence (which is not returned)."""
    words = []
    while True:
        word = read_word(read_exactly)
        if not word:
            return words
        try:
            words.append(word.decode(ENCODING))
        except UnicodeDecodeError:
            words.append(word.decode("latin-1"))
