"""The runtime's shared base: what the jobs (``captiva.quota``, ``captiva.vouchers``,
``captiva.workstations``, ``captiva.onboarding``) and the portal have in common.

- :mod:`settings`: the one typed reader of the TOML configurations (errors name the key,
  never the value);
- :mod:`jobs_config`: the jobs' configuration, ``/etc/captiva/quota.toml``;
- :mod:`db`: the database connection of a job;
- :mod:`coa`: RFC 5176 Disconnect- and CoA-Requests to the routers;
- :mod:`mail`: the ``[smtp]`` table and the SMTP mailer (STARTTLS, then AUTH);
- :mod:`metrics`: a job's last run as a Prometheus textfile;
- :mod:`cli`: the one preamble of every command line (``--config``, logging, exit codes).

Each domain package owns its rules, its SQL access and its command line.
"""
