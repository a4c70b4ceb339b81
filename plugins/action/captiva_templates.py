"""Render several templates on the controller and write them with one module run on the host
(plugins/modules/captiva_templates.py documents the task's options).

Each template is rendered as ansible.builtin.template renders it: found in the role's
``templates/`` (then the play's), with the task's variables, ``ansible_managed`` and the
``template_*`` variables, trim_blocks on, the trailing newline kept. Then the module compares
and writes them all at once: two module runs a file (stat, then copy) become one a task.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

try:  # what ansible.builtin.template adds to a template's variables (ansible_managed, template_*)
    from ansible._internal._templating._template_vars import generate_ansible_template_vars
except ImportError:  # pragma: no cover - ansible-core's internals moved
    generate_ansible_template_vars = None

MODULE = "captiva.campus.captiva_templates"
_ENTRY_KEYS = frozenset(("src", "dest", "mode"))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("templates", "dest_dir", "owner", "group", "mode"))

    def _render(self, src: str, dest: str, task_vars: dict) -> str:
        try:
            source = self._find_needle("templates", src)
        except AnsibleError as error:
            raise AnsibleActionFail(f"captiva_templates: {src}: {error}") from error
        data = trust_as_template(self._loader.get_text_file_contents(source))
        searchpath = []
        for path in [*task_vars.get("ansible_search_path", []), self._loader._basedir,
                     os.path.dirname(source)]:
            searchpath += [os.path.join(path, "templates"), path]
        variables = task_vars.copy()
        if generate_ansible_template_vars is not None:
            variables.update(generate_ansible_template_vars(
                path=src, fullpath=source, dest_path=dest,
                include_ansible_managed="ansible_managed" not in variables))
        templar = self._templar.copy_with_new_env(searchpath=searchpath,
                                                  available_variables=variables)
        rendered = templar.template(data, escape_backslashes=False)
        return "" if rendered is None else str(rendered)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        entries = self._task.args.get("templates")
        if not isinstance(entries, list) or not entries:
            raise AnsibleActionFail("captiva_templates: templates must be a non-empty list")
        dest_dir = self._task.args.get("dest_dir")
        files = []
        for number, entry in enumerate(entries, 1):
            if isinstance(entry, str):  # NAME: the template NAME.j2, written to dest_dir/NAME
                if not dest_dir:
                    raise AnsibleActionFail(f"captiva_templates: templates[{number}] is a "
                                            "name: set dest_dir")
                entry = {"src": f"{entry}.j2", "dest": os.path.join(dest_dir, entry)}
            if not isinstance(entry, dict) or not entry.get("src") or not entry.get("dest"):
                raise AnsibleActionFail(f"captiva_templates: templates[{number}] needs src "
                                        "and dest")
            unknown = set(entry) - _ENTRY_KEYS
            if unknown:
                raise AnsibleActionFail(f"captiva_templates: templates[{number}]: unknown "
                                        f"key(s) {', '.join(sorted(unknown))}")
            rendered = self._render(entry["src"], entry["dest"], task_vars)
            files.append(dict(entry, content=rendered))
        module_args = {key: self._task.args[key] for key in ("owner", "group", "mode")
                       if self._task.args.get(key) is not None}
        module_args["templates"] = files
        result.update(self._execute_module(module_name=MODULE, module_args=module_args,
                                           task_vars=task_vars))
        # The diff is made here: the module's output masks every value of its content option
        # (no_log), so a diff made there would show the new text as a placeholder.
        befores = result.pop("before", None) or {}
        if self._task.diff and befores:
            result["diff"] = [{"before_header": files[int(number)]["dest"],
                               "after_header": files[int(number)]["dest"],
                               "before": before, "after": files[int(number)]["content"]}
                              for number, before in befores.items()]
        return result
