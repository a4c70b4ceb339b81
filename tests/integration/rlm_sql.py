"""The accounting queries Captiva deploys, run the way rlm_sql runs them, without FreeRADIUS.

Nothing here is a copy: the queries are read from the role's own templates
(roles/freeradius/templates/mods-available/sql.j2 and
mods-config/sql/main/postgresql/captiva-queries.conf.j2), rendered with Jinja and the role's
defaults, parsed as FreeRADIUS parses its configuration (sections, ``key = "value"`` pairs,
backslash line continuations, ``${..x}`` references), and each ``%{...}`` expansion becomes a
bound parameter whose value is the expansion evaluated over the request's attributes. So a
test through :class:`Radius` runs exactly the SQL FreeRADIUS would run, and
test_freeradius_queries.py checks that against the file the role writes.

:meth:`Radius.account` follows rlm_sql 3.2's ``acct_redundant``: the section is picked by
``reference`` (``type.<acct-status-type>.query``); its queries run in order until one affects
a row (or returns one); an error moves on to the next one (3.2.1's rlm_sql_postgresql reports
every error as "try the next query"); none affecting a row is ``noop``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2
import psycopg
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "freeradius"
SQL_MODULE_TEMPLATE = ROLE / "templates" / "mods-available" / "sql.j2"
QUERIES_TEMPLATE = (ROLE / "templates" / "mods-config" / "sql" / "main" / "postgresql"
                    / "captiva-queries.conf.j2")

MAC = "00:11:22:33:44:55"

# Every row write on radacct, to prove that nothing is written twice. SECURITY DEFINER: the
# trigger runs as captiva_freeradius, which may not write this test table.
WRITE_LOG = """
CREATE TABLE test_radacct_writes (acctsessionid text, op text, stopped boolean);
CREATE FUNCTION test_log_radacct_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
AS $$ BEGIN
    INSERT INTO test_radacct_writes VALUES (NEW.acctsessionid, TG_OP, NEW.acctstoptime IS NOT NULL);
    RETURN NEW;
END $$;
CREATE TRIGGER test_log_radacct_write AFTER INSERT OR UPDATE ON radacct
    FOR EACH ROW EXECUTE FUNCTION test_log_radacct_write();
"""


# --------------------------------------------------------------------------------------------
# FreeRADIUS configuration files (the subset the templates use)


class ConfigSyntaxError(ValueError):
    pass


@dataclass
class Section:
    name: str
    parent: Section | None = None
    items: list[tuple[str, str] | Section] = field(default_factory=list)

    def pairs(self, key: str) -> list[str]:
        return [item[1] for item in self.items if isinstance(item, tuple) and item[0] == key]

    def pair(self, key: str) -> str | None:
        values = self.pairs(key)
        return values[0] if values else None

    def section(self, name: str) -> Section | None:
        return next((item for item in self.items
                     if isinstance(item, Section) and item.name == name), None)

    def path(self, dotted: str) -> Section:
        section = self
        for name in dotted.split("."):
            found = section.section(name)
            if found is None:
                raise KeyError(f"no section {dotted!r} under {self.name!r}")
            section = found
        return section


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<close>\})
    | (?P<open>[\w.-]+(?:\s+[\w.-]+)?)\s*\{
    | (?P<key>[\w.-]+)\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s{}#]+))
    | (?P<include>\$INCLUDE\s+\S+)
    )""", re.VERBOSE | re.DOTALL)
_REFERENCE = re.compile(r"\$\{(\.*)([\w.:-]+)\}")


def _strip_comments(text: str) -> str:
    """Drop ``#`` comments (outside double quotes) and join backslash-continued lines."""
    out, quoted, i = [], False, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            if text[i + 1] == "\n":  # a line continuation: FreeRADIUS joins the lines
                i += 2
                continue
            out.append(text[i:i + 2])
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _resolve(value: str, where: Section, root: Section) -> str:
    """Expand ``${...}`` references as FreeRADIUS does when it loads the file."""
    def replace(match: re.Match) -> str:
        dots, name = match.groups()
        if ":" in name:  # ${.:name} and friends: only in $INCLUDE paths, not used here
            return match.group(0)
        if dots:
            section = where
            for _ in range(len(dots) - 1):
                if section.parent is None:
                    raise ConfigSyntaxError(f"${{{dots}{name}}} goes above the top")
                section = section.parent
            candidates = [section]
        else:  # the current section, then the enclosing ones
            candidates, section = [], where
            while section is not None:
                candidates.append(section)
                section = section.parent
        *sections, key = name.split(".")
        for section in candidates:
            try:
                holder = section.path(".".join(sections)) if sections else section
            except KeyError:
                continue
            found = holder.pair(key)
            if found is not None:
                return found
        raise ConfigSyntaxError(f"unresolved reference ${{{dots}{name}}} in {where.name}")
    return _REFERENCE.sub(replace, value)


def parse_config(text: str, includes: dict[str, str] | None = None, *,
                 resolve: bool = True) -> Section:
    """Parse FreeRADIUS configuration text; ``includes`` maps an $INCLUDE path's last
    component to the text to include there. References are expanded once all is read."""
    root = Section("")
    stack = [root]
    text = _strip_comments(text)
    pos = 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConfigSyntaxError(f"cannot parse at: {text[pos:pos + 60]!r}")
        pos = match.end()
        if match["close"]:
            stack.pop()
            if not stack:
                raise ConfigSyntaxError("unbalanced }")
        elif match["open"]:
            section = Section(match["open"].split()[0], parent=stack[-1])
            stack[-1].items.append(section)
            stack.append(section)
        elif match["include"]:
            name = match["include"].split()[1].rsplit("/", 1)[-1]
            if includes is None or name not in includes:
                raise ConfigSyntaxError(f"no text given for {match['include']}")
            included = parse_config(includes[name], resolve=False)
            for item in included.items:
                if isinstance(item, Section):
                    item.parent = stack[-1]
                stack[-1].items.append(item)
            _reparent(stack[-1])
        else:
            raw = match["quoted"] if match["quoted"] is not None else match["bare"]
            stack[-1].items.append((match["key"], raw))
    if len(stack) != 1:
        raise ConfigSyntaxError("unclosed section")
    if resolve:
        _resolve_all(root, root)
    return root


def _reparent(section: Section) -> None:
    for item in section.items:
        if isinstance(item, Section):
            item.parent = section
            _reparent(item)


def _resolve_all(section: Section, root: Section) -> None:
    # In file order: a reference sees what was defined before it, resolved already.
    for index, item in enumerate(section.items):
        if isinstance(item, Section):
            _resolve_all(item, root)
        else:
            section.items[index] = (item[0], _resolve(item[1], section, root))


# --------------------------------------------------------------------------------------------
# xlat: %{...} expansions


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``%{`` at ``start``."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("%{", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ConfigSyntaxError(f"unclosed %{{ in {text!r}")


def _split_alternation(body: str) -> tuple[str, str | None]:
    depth = 0
    for i in range(len(body)):
        if body.startswith("%{", i):
            depth += 1
        elif body[i] == "}":
            depth -= 1
        elif depth == 0 and body.startswith(":-", i):
            return body[:i], body[i + 2:]
    return body, None


def expand(template: str, attributes: dict[str, object]) -> str:
    """Evaluate the xlat ``template`` over ``attributes`` (what radius_axlat would print)."""
    out, i = [], 0
    while i < len(template):
        if template.startswith("%{", i):
            end = _closing(template, i)
            out.append(_expand_one(template[i + 2:end], attributes))
            i = end + 1
        elif template.startswith("%l", i):
            out.append(str(int(attributes["%l"])))
            i += 2
        elif template[i] == "%" and i + 1 < len(template):
            raise ConfigSyntaxError(f"unsupported expansion %{template[i + 1]} in {template!r}")
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


def _expand_one(body: str, attributes: dict[str, object]) -> str:
    first, alternate = _split_alternation(body)
    if alternate is not None:
        value = expand(first, attributes) if first.startswith("%{") else \
            _attribute(first, attributes)
        return value if value else expand(alternate, attributes)
    if ":" in body:
        function, argument = body.split(":", 1)
        if function == "integer":
            value = attributes.get(argument)
            return "" if value is None else str(int(value))
        if function == "tolower":
            return expand(argument, attributes).lower()
        raise ConfigSyntaxError(f"unsupported xlat function {function!r}")
    return _attribute(body, attributes)


def _attribute(name: str, attributes: dict[str, object]) -> str:
    value = attributes.get(name)
    return "" if value is None else str(value)


# --------------------------------------------------------------------------------------------
# SQL with bound parameters


@dataclass(frozen=True)
class Query:
    """One rlm_sql query: the deployed text, and the same with ``%(pN)s`` placeholders."""

    text: str
    sql: str
    parameters: tuple[tuple[str, str], ...]  # (name, "literal" | "sql", template)

    @classmethod
    def translate(cls, text: str) -> Query:
        """``'...%{x}...'`` (a string literal holding expansions) becomes one text
        parameter; a bare ``%{x}`` (SQL text: a number or NULL) a typed one."""
        sql, parameters, i = [], [], 0
        while i < len(text):
            char = text[i]
            if char == "'":
                end = text.index("'", i + 1)
                literal = text[i + 1:end]
                if "%" in literal:
                    name = f"p{len(parameters)}"
                    parameters.append((name, "literal", literal))
                    sql.append(f"%({name})s")
                else:
                    sql.append(text[i:end + 1])
                i = end + 1
            elif text.startswith("%{", i):
                end = _closing(text, i)
                name = f"p{len(parameters)}"
                parameters.append((name, "sql", text[i:end + 1]))
                sql.append(f"%({name})s")
                i = end + 1
            elif char == "%":
                raise ConfigSyntaxError(f"bare % in query {text!r}")
            else:
                sql.append(char)
                i += 1
        return cls(text, "".join(sql), tuple(parameters))

    def bind(self, attributes: dict[str, object]) -> dict[str, object]:
        values = {}
        for name, kind, template in self.parameters:
            value = expand(template, attributes)
            if kind == "literal":
                values[name] = value
            elif value == "NULL":
                values[name] = None
            elif re.fullmatch(r"-?\d+", value):
                values[name] = int(value)
            else:
                raise ValueError(f"{template} expanded to {value!r}, not SQL a number or NULL")
        return values

    @property
    def verb(self) -> str:
        """The statement's kind: update, insert, with (a CTE), or select ..."""
        return self.sql.split(None, 1)[0].lower()


def render(template: Path, variables: dict) -> str:
    # Configuration text, not HTML: no autoescape (as Ansible's template module).
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True,  # noqa: S701
                                     keep_trailing_newline=True)
    environment.filters["comment"] = lambda text: f"#\n# {text}\n#"
    return environment.from_string(template.read_text()).render(
        ansible_managed="Ansible managed", **variables)


def role_defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def parse_sql_module(module_text: str, queries_text: str) -> Section:
    """The ``sql`` section of mods-available/sql with the queries file included."""
    root = parse_config(module_text, includes={"captiva-queries.conf": queries_text})
    sql_section = root.section("sql")
    if sql_section is None:
        raise ConfigSyntaxError("no sql { } section")
    return sql_section


@cache
def deployed() -> Section:
    """The role's sql module and queries, rendered from the templates with its defaults."""
    variables = role_defaults()
    return parse_sql_module(render(SQL_MODULE_TEMPLATE, variables),
                            render(QUERIES_TEMPLATE, variables))


def accounting_queries(sql_section: Section) -> dict[str, list[str]]:
    """``{status type section: [query text, ...]}``, as FreeRADIUS holds them after loading."""
    types = sql_section.path("accounting.type")
    return {item.name: item.pairs("query") for item in types.items if isinstance(item, Section)}


# --------------------------------------------------------------------------------------------
# The double


class Radius:
    """Sends accounting to PostgreSQL as FreeRADIUS's sql module does, with the deployed
    queries. Methods return the verb of the query that took the record ("update",
    "insert", "with", or "select": a duplicate, found standing), or "none" when no query
    affected a row (rlm_sql's noop: the record is not stored, the servers buffer it)."""

    def __init__(self, conn, sql_section: Section | None = None):
        self.conn = conn
        self.sql_section = sql_section or deployed()
        self.queries = {name: [Query.translate(text) for text in texts]
                        for name, texts in accounting_queries(self.sql_section).items()}

    def account(self, attributes: dict[str, object]) -> str:
        attributes = dict(attributes)
        attributes.setdefault("%l", int(attributes.get("Event-Timestamp")
                                        or dt.datetime.now(dt.UTC).timestamp()))
        attributes["SQL-User-Name"] = expand(self.sql_section.pair("sql_user_name"),
                                             attributes)
        reference = expand(self.sql_section.path("accounting").pair("reference"), attributes)
        _, section, _ = reference.split(".")
        queries = self.queries.get(section)
        if queries is None:
            return "none"  # "No such configuration item": noop
        for query in queries:
            try:
                rows = self.conn.execute(query.sql, query.bind(attributes)).rowcount
            except psycopg.Error:  # rlm_sql's ALT_QUERY: try the next one
                continue
            if rows > 0:
                return query.verb
        return "none"

    @staticmethod
    def attributes(status, session, user, nas, when, octets_in=None, octets_out=None,
                   ip="10.5.50.10", session_time=None, cause=None, mac=MAC) -> dict:
        """A MikroTik hotspot's Accounting-Request, after preprocess and acct_unique."""
        attributes = {
            "Acct-Status-Type": status, "Acct-Session-Id": session,
            "Acct-Unique-Session-Id": f"u-{session}", "User-Name": user,
            "NAS-IP-Address": nas, "NAS-Port": "1", "NAS-Port-Type": "Wireless-802.11",
            "Event-Timestamp": int(when.timestamp()), "Acct-Authentic": "RADIUS",
            "Called-Station-Id": "hotspot1", "Calling-Station-Id": mac,
            "Framed-IP-Address": ip, "Acct-Session-Time": session_time,
            "Acct-Terminate-Cause": cause,
        }
        for direction, total in (("Input", octets_in), ("Output", octets_out)):
            if total is not None:
                attributes[f"Acct-{direction}-Octets"] = total & 0xFFFFFFFF
                attributes[f"Acct-{direction}-Gigawords"] = total >> 32
        return attributes

    def start(self, session, user, nas, when, ip="10.5.50.10", mac=MAC):
        return self.account(self.attributes("Start", session, user, nas, when, ip=ip, mac=mac))

    def interim(self, session, user, nas, when, octets_in, octets_out, session_time=None,
                ip="10.5.50.10"):
        return self.account(self.attributes("Interim-Update", session, user, nas, when,
                                            octets_in, octets_out, ip, session_time))

    def stop(self, session, user, nas, when, octets_in, octets_out, session_time=0,
             cause="User-Request"):
        return self.account(self.attributes("Stop", session, user, nas, when, octets_in,
                                            octets_out, None, session_time, cause))

    def accounting_on(self, nas, when, status="Accounting-On"):
        return self.account({"Acct-Status-Type": status, "NAS-IP-Address": nas,
                             "Acct-Session-Id": "00000000",
                             "Event-Timestamp": int(when.timestamp())})
