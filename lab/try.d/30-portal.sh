# shellcheck shell=bash
# Status portal (sourced by `lab/lab info`): its URL once it answers (roles/portal, nginx).
portal_url=""
for url in "https://${ADDRESS[lab-portal]}/" "http://${ADDRESS[lab-portal]}/"; do
    if curl -ksS -o /dev/null --max-time 3 "$url" 2>/dev/null; then
        portal_url=$url
        break
    fi
done
if [ -n "$portal_url" ]; then
    printf '  status portal:        curl -k %s    (or a browser on this machine)\n' "$portal_url"
else
    printf '  status portal:        nothing answers on %s:443 or :80 yet (roles/portal)\n' "${ADDRESS[lab-portal]}"
fi
