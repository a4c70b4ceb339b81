# Copyright: Captiva contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's and molecule's connection to their podman containers: one ``podman exec`` a task.

containers.podman.podman runs ``podman exec`` without ``-i``, so a module cannot be fed on
stdin and every task costs four ``podman`` calls: mount, mkdir of a temporary directory,
the module's run, and its removal. Here a command gets stdin when there is some, so Ansible
pipelines modules, and a file (copy, template) crosses on the stdin of ``cat``.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: podman_exec
short_description: Run tasks in a running podman container, modules pipelined on stdin
description:
  - Runs commands with C(podman exec), with C(--interactive) when Ansible sends data, so
    modules are pipelined (one C(podman exec) a task); files are copied in and out through
    C(cat) in the container.
  - The options are those of C(containers.podman.podman), less its extra arguments.
author: Captiva contributors (@captiva)
options:
  remote_addr:
    description: The container's name or ID.
    default: inventory_hostname
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_podman_host
  remote_user:
    description: The user (name or UID) commands run as inside the container.
    type: str
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_executable:
    description: The podman executable.
    default: podman
    type: str
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  pipelining:
    description: Feed modules to the container's Python on stdin.
    type: boolean
    default: true
    ini:
      - section: connection
        key: pipelining
    env:
      - name: ANSIBLE_PIPELINING
    vars:
      - name: ansible_pipelining
"""

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible.utils.display import Display

display = Display()


class Connection(ConnectionBase):
    transport = "captiva.campus.podman_exec"
    has_pipelining = True

    def _connect(self):
        self._connected = True
        return self

    def _exec(self, command: list[str], in_data: bytes | None = None):
        """Run ``command`` in the container; return its exit status, stdout and stderr."""
        args = [self.get_option("podman_executable"), "exec"]
        if in_data is not None:
            args.append("--interactive")
        if self.get_option("remote_user"):
            args += ["--user", self.get_option("remote_user")]
        args += [self.get_option("remote_addr"), *command]
        display.vvv(f"EXEC {shlex.join(args)}", host=self.get_option("remote_addr"))
        try:
            done = subprocess.run(args, input=in_data, capture_output=True, check=False)  # noqa: S603
        except FileNotFoundError as error:
            raise AnsibleConnectionFailure(f"{args[0]} not found: install podman") from error
        return done.returncode, done.stdout, done.stderr

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        return self._exec(shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    @ensure_connect
    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        with open(in_path, "rb") as source:
            content = source.read()
        status, _, stderr = self._exec(["/bin/sh", "-c", f"cat > {shlex.quote(out_path)}"],
                                       content)
        if status != 0:
            raise AnsibleError(f"could not write {out_path} in the container: "
                               f"{to_native(stderr).strip()}")

    @ensure_connect
    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        status, content, stderr = self._exec(["cat", in_path])
        if status != 0:
            raise AnsibleError(f"could not read {in_path} in the container: "
                               f"{to_native(stderr).strip()}")
        with open(out_path, "wb") as target:
            target.write(content)

    def close(self):
        super().close()
        self._connected = False
