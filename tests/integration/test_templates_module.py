"""captiva.campus.captiva_templates: several templates, one module run, the same files as
ansible.builtin.template writes, idempotent, check mode, diff, secrets kept out of the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ansible_run import BIN, ROOT, recap

SECRET = "s3cret-value-that-must-not-show-0123"

PLAY = """\
- name: Templates
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Several at once
      captiva.campus.captiva_templates:
        dest_dir: "{{ out }}/many"
        templates:
          - app.conf
          - sub/other.conf
          - src: app.conf.j2
            dest: "{{ out }}/many/named.conf"
            mode: "0600"
        mode: "0640"
      notify: reload
    - name: The secrets
      captiva.campus.captiva_templates:
        dest_dir: "{{ out }}/many"
        templates: [secret.conf]
        mode: "0600"
      diff: false
    - name: As ansible.builtin.template writes them
      ansible.builtin.template:
        src: "{{ item }}.j2"
        dest: "{{ out }}/builtin/{{ item }}"
        mode: "0640"
      loop: [app.conf, sub/other.conf]
      when: builtin | default(false) | bool
  handlers:
    - name: reload
      ansible.builtin.debug:
        msg: reloaded
"""


def make_tree(tmp_path: Path) -> Path:
    (tmp_path / "templates" / "sub").mkdir(parents=True)
    (tmp_path / "templates" / "app.conf.j2").write_text(
        "# {{ ansible_managed }}\n{% for n in names %}\nname = {{ n }}\n{% endfor %}\n"
        "last = {{ names | last }}\n\n")
    (tmp_path / "templates" / "sub" / "other.conf.j2").write_text(
        "port = {{ radius_port }}\n{% include 'fragment.j2' %}")
    (tmp_path / "templates" / "fragment.j2").write_text("# included\n")
    (tmp_path / "templates" / "secret.conf.j2").write_text("password = {{ password }}\n")
    (tmp_path / "play.yml").write_text(PLAY)
    for directory in ("many/sub", "builtin/sub"):
        (tmp_path / "out" / directory).mkdir(parents=True)
    return tmp_path / "out"


def run(tmp_path: Path, *args: str, **extra) -> subprocess.CompletedProcess:
    variables = dict(out=str(tmp_path / "out"), names=["a", "b"], radius_port=1812, password=SECRET,
                     ansible_python_interpreter=sys.executable, **extra)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}", *args],
        cwd=ROOT, env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                           ANSIBLE_NOCOLOR="1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)


def test_writes_what_the_builtin_template_writes_then_changes_nothing(tmp_path):
    out = make_tree(tmp_path)
    first = run(tmp_path, "-e", "builtin=true")
    assert first.returncode == 0, first.stdout
    assert "reloaded" in first.stdout
    for name in ("app.conf", "sub/other.conf"):
        assert (out / "many" / name).read_bytes() == (out / "builtin" / name).read_bytes()
        assert oct((out / "many" / name).stat().st_mode & 0o777) == "0o640"
    assert (out / "many" / "app.conf").read_text().endswith("last = b\n\n")
    assert (out / "many" / "named.conf").read_bytes() == (out / "many" / "app.conf").read_bytes()
    assert oct((out / "many" / "named.conf").stat().st_mode & 0o777) == "0o600"
    assert (out / "many" / "secret.conf").read_text() == f"password = {SECRET}\n"

    second = run(tmp_path, "-e", "builtin=true")
    assert recap(second.stdout)["changed"] == 0, second.stdout
    assert "reloaded" not in second.stdout


def test_check_mode_reports_the_one_change_and_writes_nothing(tmp_path):
    out = make_tree(tmp_path)
    assert run(tmp_path).returncode == 0
    target = out / "many" / "sub" / "other.conf"
    before = target.read_bytes()

    check = run(tmp_path, "--check", "--diff", "-e", "radius_port=1645")
    assert check.returncode == 0, check.stdout
    assert recap(check.stdout)["changed"] == 1, check.stdout
    assert "-port = 1812" in check.stdout and "+port = 1645" in check.stdout
    assert str(out / "many" / "app.conf") not in check.stdout  # unchanged files: no diff
    assert target.read_bytes() == before

    os.chmod(target, 0o644)  # a mode changed by hand is put back, the content untouched
    again = run(tmp_path)
    assert recap(again.stdout)["changed"] == 1, again.stdout
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert target.read_bytes() == before


def test_a_secret_never_shows_in_a_diff_or_verbose_output(tmp_path):
    make_tree(tmp_path)
    first = run(tmp_path, "--diff", "-vvv")
    assert first.returncode == 0, first.stdout
    changed = run(tmp_path, "--diff", "-vvv", "-e", "password=another-secret-value-0123456")
    assert changed.returncode == 0
    for result in (first, changed):
        assert SECRET not in result.stdout
        assert "another-secret-value-0123456" not in result.stdout


def test_a_missing_template_fails_by_name_and_writes_nothing(tmp_path):
    out = make_tree(tmp_path)
    (tmp_path / "templates" / "sub" / "other.conf.j2").unlink()
    result = run(tmp_path)
    assert result.returncode != 0
    assert "sub/other.conf.j2" in result.stdout
    assert not (out / "many" / "app.conf").exists()  # the first file was not written either


def test_a_file_whose_directory_is_missing_fails_by_name_and_writes_nothing(tmp_path):
    out = make_tree(tmp_path)
    (out / "many" / "sub").rmdir()  # sub/other.conf comes second: app.conf must not be written
    result = run(tmp_path)
    assert result.returncode != 0
    assert f"{out}/many/sub/other.conf: its directory does not exist" in result.stdout
    assert not (out / "many" / "app.conf").exists()
