#!/usr/bin/python
"""Write a role's rendered templates to a host in one module run (the action
plugins/action/captiva_templates.py renders them on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: captiva_templates
short_description: Render several templates and write them to a host in one module run
description:
  - Renders each template on the controller, as M(ansible.builtin.template) does (the role's
    C(templates/) directory, C(ansible_managed), every variable of the task), then writes
    every file whose content, owner, group or mode differs in one module run on the host.
  - M(ansible.builtin.template) in a loop runs two modules on the host for each file (C(stat)
    then C(copy)), and each module run starts Python and compiles the module again; here a
    task is one module run, whatever its number of files.
  - Each file is replaced atomically (a temporary file in its directory, then a rename).
  - The content is a C(no_log) option, so C(-vvv) and the host's log never show it; a task
    whose files hold secrets turns C(diff) off, so C(--diff) does not print them either.
version_added: "1.1.0"
author: Captiva contributors (@captiva)
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  diff_mode:
    support: full
    description: One before/after diff for each file whose content changes.
options:
  templates:
    description:
      - The files, in order. O(templates[].content) is set by the action; a task gives
        O(templates[].src).
      - An entry may be a name instead, with O(dest_dir) set; the name C(NAME) stands for
        the template C(NAME.j2) written to C(dest_dir/NAME).
    type: list
    elements: dict
    required: true
    suboptions:
      src:
        description: The template, found as M(ansible.builtin.template) finds it (the role's
          C(templates/) first).
        type: str
      dest:
        description: The absolute path on the host.
        type: path
        required: true
      content:
        description: The rendered text (set by the action from O(templates[].src)).
        type: str
      mode:
        description: This file's mode, instead of O(mode).
        type: raw
  dest_dir:
    description: The directory the entries given by name are written under.
    type: path
  owner:
    description: The owner of every file.
    type: str
  group:
    description: The group of every file.
    type: str
  mode:
    description: The mode of every file (for example C("0640")).
    type: raw
"""

EXAMPLES = r"""
- name: Render the configuration files
  captiva.campus.captiva_templates:
    dest_dir: /etc/freeradius/3.0
    templates:
      - mods-available/buffered_login  # templates/mods-available/buffered_login.j2
      - clients.conf
    owner: root
    group: freerad
    mode: "0640"
  notify: freeradius configuration changed

- name: The same with paths of their own
  captiva.campus.captiva_templates:
    owner: root
    group: freerad
    mode: "0640"
    templates:
      - src: policy.d/captiva_quota.j2
        dest: /etc/freeradius/3.0/policy.d/captiva_quota
      - src: sites-available/default.j2
        dest: /etc/freeradius/3.0/sites-available/default
  notify: freeradius configuration changed
"""

RETURN = r"""
before:
  description: In diff mode, the text on the host of each file whose content changes, by its
    position in O(templates) from 0 (the action turns it into the task's diff and removes it).
  returned: diff mode, when a file's content changes
  type: dict
changed_files:
  description: The files written, or that would be in check mode (content, owner, group or
    mode).
  returned: always
  type: list
  elements: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _current(path: str) -> bytes | None:
    try:
        with open(path, "rb") as existing:
            return existing.read()
    except FileNotFoundError:
        return None


def _write(module: AnsibleModule, path: str, data: bytes) -> None:
    """The new content in a temporary file beside ``path``, then renamed over it."""
    handle, temporary = tempfile.mkstemp(prefix=".captiva-", dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        module.atomic_move(temporary, path, unsafe_writes=False)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def main():
    module = AnsibleModule(
        argument_spec={
            "templates": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "src": {"type": "str"},
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str", "no_log": True},
                    "mode": {"type": "raw"},
                },
            },
            "dest_dir": {"type": "path"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "mode": {"type": "raw"},
        },
        supports_check_mode=True,
    )
    # Every file checked before any is written: a bad entry changes nothing.
    for entry in module.params["templates"]:
        if entry["content"] is None:
            module.fail_json(msg=f"{entry['dest']}: no content (run captiva_templates as a "
                                 "task: its action renders src)")
        if not os.path.isdir(os.path.dirname(entry["dest"])):
            module.fail_json(msg=f"{entry['dest']}: its directory does not exist")
    changed_files, befores = [], {}
    for number, entry in enumerate(module.params["templates"]):
        path = entry["dest"]
        data = entry["content"].encode("utf-8")
        before = _current(path)
        changed = before != data
        if changed and module._diff:  # the action adds the rendered text as "after"
            befores[str(number)] = (before or b"").decode("utf-8", "replace")
        if changed and not module.check_mode:
            _write(module, path, data)
        attributes = module.load_file_common_arguments({
            "path": path, "owner": module.params["owner"], "group": module.params["group"],
            "mode": entry["mode"] if entry["mode"] is not None else module.params["mode"],
        })
        if before is None and module.check_mode:
            pass  # nothing on disk to compare: the file itself is the change
        elif module.set_fs_attributes_if_different(attributes, False):
            changed = True
        if changed:
            changed_files.append(path)
    result = {"changed": bool(changed_files), "changed_files": changed_files}
    if befores:
        result["before"] = befores
    module.exit_json(**result)


if __name__ == "__main__":
    main()
