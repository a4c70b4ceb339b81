// The console's list: search as you type (debounced fetch of /api/admin/users) and a refresh
// every 30 s. Without JavaScript the form submits and the server renders the same list.
"use strict";
(function () {
  const form = document.querySelector("[data-test=search-form]");
  const table = document.getElementById("users");
  if (!form || !table) return;
  const labels = JSON.parse(table.dataset.labels || "{}");
  const tbody = table.querySelector("tbody");
  let timer = null;
  let seq = 0;

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }
  // Times in the campus timezone, as the server renders them ("2026-12-01 14:05").
  const clock = new Intl.DateTimeFormat("sv-SE", {
    timeZone: table.dataset.tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
  function when(iso) {
    return iso ? clock.format(new Date(iso)) : "—";
  }
  function render(rows) {
    const body = document.createDocumentFragment();
    for (const u of rows) {
      const tr = document.createElement("tr");
      tr.dataset.username = u.username;
      const name = document.createElement("td");
      const link = document.createElement("a");
      link.href = "/admin/users/" + encodeURIComponent(u.username);
      link.textContent = u.username;
      name.append(link, " ");
      const full = document.createElement("span");
      full.className = "muted";
      full.textContent = [u.first_name, u.last_name].filter(Boolean).join(" ");
      name.append(full);
      const presence = document.createElement("td");
      const tag = document.createElement("span");
      tag.className = "tag presence-" + u.presence;
      tag.textContent = labels[u.presence] || u.presence;
      presence.append(tag);
      tr.append(name, cell(u.promotion || "—"), cell(u.profile || "—"), presence,
                cell(when(u.last_login)), cell(u.online_ip || u.last_ip || "—", "mono"));
      body.append(tr);
    }
    tbody.replaceChildren(body);
  }
  async function refresh() {
    const mine = ++seq;
    const params = new URLSearchParams(new FormData(form));
    const response = await fetch("/api/admin/users?" + params, {credentials: "same-origin"});
    if (!response.ok || mine !== seq) return;
    const data = await response.json();
    if (mine === seq) render(data.rows);
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  setInterval(refresh, 30000);
})();
