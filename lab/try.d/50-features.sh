# shellcheck shell=bash
# Vouchers, public workstations, staff and the smoke test (sourced by `lab/lab info`):
# inventories/lab declares one of each (docs/lab.md, "Trying it by hand").
cat <<TXT
  staff console:        https://portal.lab.captiva.test/admin as lab-staff1 (admin) or
                        lab-librarian1 (operator: Postes publics), passwords in docs/lab.md
  public workstation:   LAB-PC-01 is this machine (10.89.0.1): issue it a session in the
                        console, then its kiosk: curl -k --resolve portal.lab.captiva.test:443:${ADDRESS[lab-portal]} https://portal.lab.captiva.test/kiosk
  voucher cards:        .venv/bin/python -m captiva.vouchers print --roster inventories/lab/group_vars/all \\
                          --vault-password-file inventories/lab/vault-password-lab-only.txt \\
                          --batch lab-guests --wifi-name CAPTIVA-LAB --pdf lab-guests.pdf
  smoke test:           make smoke INVENTORY=inventories/lab   (read-only: routers, /healthz, RADIUS, Disconnect)
TXT
