"""The RouterOS API connection options of captiva_routeros and captiva_routeros_files
(module_utils captiva_routeros.CONNECTION_ARGUMENT_SPEC), documented once."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  host:
    description: Address or name of the router's API service.
    type: str
    required: true
  port:
    description: API port; defaults to 8729 (API-SSL), or 8728 with O(tls=false).
    type: int
  username:
    description: RouterOS user with read and write policies.
    type: str
    required: true
  password:
    description: Password of O(username).
    type: str
    required: true
  tls:
    description:
      - Use API-SSL (TLS). The plain API (O(tls=false), port 8728) sends the API password
        and the RADIUS secrets in clear; it is an explicit opt-in for a lab, and the modules
        warn about it on every run, plan included.
    type: bool
    default: true
  validate_certs:
    description:
      - Verify the router's certificate and host name when O(tls=true).
      - Only switch this off in a lab.
    type: bool
    default: true
  ca_path:
    description: PEM file of the CA that signed the router's certificate.
    type: path
  timeout:
    description: Seconds to wait for the connection and login.
    type: float
    default: 10
  command_timeout:
    description: Seconds to wait for the reply to one API command.
    type: float
    default: 60
"""
