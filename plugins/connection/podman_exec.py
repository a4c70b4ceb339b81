# Copyright: Captiva contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's and molecule's connection: containers.podman.podman with pipelining.

containers.podman.podman runs ``podman exec`` without ``-i``, so a module cannot be fed on
stdin and every task costs four ``podman`` calls: mount, mkdir of a temporary directory,
the module's run, and its removal. This connection passes stdin when there is some, so
Ansible pipelines modules: one ``podman exec`` a task. Files (copy, template) still go
through the container's mount.
"""

from __future__ import annotations

DOCUMENTATION = """
name: podman_exec
short_description: Run tasks in a podman container, modules pipelined on stdin
description:
  - containers.podman.podman, with C(podman exec -i) when Ansible sends data on stdin, so
    modules are pipelined.
  - The options are containers.podman.podman's.
author: Captiva contributors
options:
  remote_addr:
    description: The container's name or ID.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
      - name: ansible_podman_host
  remote_user:
    description: The user (name or UID) commands run as inside the container.
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments for the podman command line.
    default: ''
    vars:
      - name: ansible_podman_extra_args
  podman_executable:
    description: The podman executable.
    default: podman
    vars:
      - name: ansible_podman_executable
  pipelining:
    description: Feed modules to the container's Python on stdin (one C(podman exec) a task).
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

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)


class Connection(PodmanConnection):
    transport = "captiva.campus.podman_exec"
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        podman_args = ["exec", "--interactive"] if in_data is not None else ["exec"]
        if self.user:
            podman_args += ["--user", self.user]
        command = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        return self._podman(podman_args, command, in_data)
