"""API queries (help.mikrotik.com, "API", "Queries"): ``?name``, ``?-name``, ``?name=x``,
``?=name=x``, ``?<name=x``, ``?>name=x`` and ``?#operations``.

A query is evaluated with a stack of booleans that starts as an infinite amount of ``true``;
an item matches when no ``false`` is left. In ``?#``: a run of decimal digits is a stack index
(top = 0); an index followed by another character pushes a copy of that value, an index that
ends the word replaces the whole stack with that value; ``!`` negates the top; ``&`` and ``|``
pop two values and push their and/or; ``.`` after an index does nothing, after anything else
pushes a copy of the top.
"""

from __future__ import annotations

from .model import Trap


def _compare(left: str | None, right: str) -> int | None:
    if left is None:
        return None
    try:
        a, b = int(left), int(right)
    except ValueError:
        a, b = left, right  # type: ignore[assignment]
    return (a > b) - (a < b)


def _query_term(word: str, row: dict[str, str]) -> bool:
    body = word[1:]
    if body.startswith("="):
        body = body[1:]
    if body.startswith("-"):
        return body[1:] not in row
    if body[:1] in "<>":
        name, _, value = body[1:].partition("=")
        order = _compare(row.get(name), value)
        return order is not None and order == (-1 if body[0] == "<" else 1)
    name, eq, value = body.partition("=")
    if not eq:
        return name in row
    return row.get(name) == value


class _Stack:
    """Values above an infinite run of ``bottom`` (``true`` at first)."""

    def __init__(self) -> None:
        self.values: list[bool] = []
        self.bottom = True

    def push(self, value: bool) -> None:
        self.values.append(value)

    def pop(self) -> bool:
        return self.values.pop() if self.values else self.bottom

    def at(self, index: int) -> bool:
        return self.values[-1 - index] if index < len(self.values) else self.bottom

    def replace_all(self, value: bool) -> None:
        self.values, self.bottom = [], value

    def holds(self) -> bool:
        return self.bottom and all(self.values)


def _operations(ops: str, stack: _Stack) -> None:
    pos = 0
    while pos < len(ops):
        if ops[pos].isdigit():
            end = pos
            while end < len(ops) and ops[end].isdigit():
                end += 1
            value = stack.at(int(ops[pos:end]))
            if end == len(ops):
                stack.replace_all(value)
            else:
                stack.push(value)
                if ops[end] == ".":
                    end += 1  # "." after an index does nothing
            pos = end
            continue
        op = ops[pos]
        if op == "!":
            stack.push(not stack.pop())
        elif op in "|&":
            right, left = stack.pop(), stack.pop()
            stack.push(left or right if op == "|" else left and right)
        elif op == ".":
            stack.push(stack.at(0))
        else:
            raise Trap(f"unknown query operator {op!r}", 1)
        pos += 1


def query_matches(queries: list[str], row: dict[str, str]) -> bool:
    """Run the query words over one row."""
    stack = _Stack()
    for word in queries:
        if word.startswith("?#"):
            _operations(word[2:], stack)
        else:
            stack.push(_query_term(word, row))
    return stack.holds()
