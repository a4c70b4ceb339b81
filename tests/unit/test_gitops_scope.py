"""Which pipeline a change needs (captiva/gitops.py, docs/gitops.md "The daily path"): the
roster only when every change is to a roster list of the inventory's group_vars/all, else the
hosts too; whatever cannot be told apart means the hosts."""

import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

import yaml

from captiva import gitops

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = PurePosixPath("inventories/campus")
USERS = "inventories/campus/group_vars/all/users.yml"
SETTINGS = "inventories/campus/group_vars/all/settings.yml"


def dump(**variables) -> str:
    return "---\n" + yaml.safe_dump(variables)


def test_a_change_of_roster_lists_only_is_the_roster_path():
    before = dump(captiva_users=[{"username": "alice01"}])
    after = dump(captiva_users=[{"username": "alice01"}, {"username": "bob0002"}])
    staff = "inventories/campus/group_vars/all/staff.yml"
    assert gitops.scope(INVENTORY, {USERS: (before, after),
                                    staff: (None, dump(captiva_staff=[]))}) == ("roster", [])
    # Comments and formatting only: no variable changed.
    assert gitops.scope(INVENTORY, {USERS: (before, "# reordered\n" + before)})[0] == "roster"


def test_a_setting_a_site_or_a_file_elsewhere_needs_the_hosts():
    before = dump(captiva_language="fr", captiva_users=[])
    after = dump(captiva_language="en", captiva_users=[{"username": "x"}])
    assert gitops.scope(INVENTORY, {SETTINGS: (before, after)}) == (
        "hosts", [f"{SETTINGS}: captiva_language changed (not a roster list)"])
    sites = dump(captiva_sites=[{"name": "a"}])
    assert gitops.scope(INVENTORY, {SETTINGS: (sites, None)})[0] == "hosts"
    for elsewhere in ("inventories/campus/hosts.yml", "roles/portal/defaults/main.yml",
                      "inventories/campus/group_vars/routers/api.yml",
                      "inventories/other/group_vars/all/users.yml"):
        result, reasons = gitops.scope(INVENTORY, {elsewhere: (None, "")})
        assert result == "hosts" and reasons == [
            f"{elsewhere}: not a variables file of inventories/campus/group_vars/all"]


def test_what_cannot_be_compared_needs_the_hosts():
    vaulted = "$ANSIBLE_VAULT;1.2;AES256;prod\n3132\n"
    result, reasons = gitops.scope(INVENTORY, {USERS: (vaulted, vaulted + "33\n")})
    assert result == "hosts" and "vault-encrypted as a whole" in reasons[0]
    assert gitops.scope(INVENTORY, {USERS: ("a: [", dump(captiva_users=[]))})[0] == "hosts"
    # A vaulted value inside a roster list compares by its ciphertext.
    before = "captiva_users:\n  - username: a\n    password: !vault |\n      $ANSIBLE_VAULT;1.2\n"
    after = before.replace("1.2", "1.1")
    assert gitops.changed_variables(before, after, USERS) == {"captiva_users"}


def test_no_host_play_and_no_role_reads_a_roster_list():
    """The roster path skips the hosts: safe only while no role and no host play reads one of
    the roster lists (roster.yml runs every play that may)."""
    roster_plays = {"validate.yml", "reconcile.yml", "routers.yml", "summary.yml", "roster.yml"}
    # Ansible's files: variables are read in YAML and Jinja (SQL names tables, some of them
    # like the variables that fill them: captiva_staff).
    ansible = (".yml", ".yaml", ".j2")
    files = [p for p in (ROOT / "roles").rglob("*") if p.suffix in ansible]
    files += [p for p in (ROOT / "playbooks").rglob("*") if p.suffix in ansible
              and p.name not in roster_plays]
    keys = "|".join(sorted(gitops.ROSTER_KEYS))
    # Read: inside a Jinja expression or statement, or a bare condition (when:, that: items);
    # named in a message or a comment is not a read.
    read = re.compile(r"(\{[{%][^}]*\b(" + keys + r")\b)"
                      r"|^\s*(when:|-)\s+[^'\"#]*\b(" + keys + r")\b")
    readers = []
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if read.search(line) and not line.lstrip().startswith("#"):
                readers.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert readers == []


def git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b",
                        "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b",
                        "HOME": str(cwd), "PATH": "/usr/bin:/bin"})


def scope_of(repo, base):
    return subprocess.run([sys.executable, "-m", "captiva.gitops", "scope",
                           str(repo / "inventories" / "campus"), "--base", base],
                          cwd=ROOT, capture_output=True, text=True, check=True)


def test_the_command_compares_two_commits_of_the_inventory_repository(tmp_path):
    repo = tmp_path / "campus-repo"
    variables = repo / "inventories" / "campus" / "group_vars" / "all"
    variables.mkdir(parents=True)
    (variables / "users.yml").write_text(dump(captiva_users=[]))
    (variables / "settings.yml").write_text(dump(captiva_language="fr"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "campus")
    git(repo, "tag", "applied")
    (variables / "users.yml").write_text(dump(captiva_users=[{"username": "alice01"}]))
    git(repo, "commit", "-qam", "alice01")
    roster = scope_of(repo, "applied")
    assert roster.stdout == "roster\n"
    assert "1 file(s) changed, roster lists only" in roster.stderr
    (variables / "settings.yml").write_text(dump(captiva_language="en"))
    git(repo, "commit", "-qam", "English")
    hosts = scope_of(repo, "applied")
    assert hosts.stdout == "hosts\n"
    assert "settings.yml: captiva_language changed (not a roster list)" in hosts.stderr
    unknown = scope_of(repo, "no-such-commit")
    assert unknown.stdout == "hosts\n" and "cannot compare no-such-commit..HEAD" in unknown.stderr
