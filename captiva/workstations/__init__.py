"""Public workstations' jobs (docs/workstations.md): the daily report and the retention.

Run on the RADIUS host as captiva-jobs with the quota jobs' configuration
(``captiva-workstations --config /etc/captiva/quota.toml report|retention``, in
:mod:`captiva.workstations.cli`).
"""
