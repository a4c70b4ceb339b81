// The workstations' console: live rows from Server-Sent Events, else polling.
(function () {
  var config = JSON.parse(document.getElementById("ws-config").dataset.config);
  var labels = config.labels;
  var offset = 0, ends = {};
  function fmt(s) {
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    return (h ? h + " h " : "") + (m < 10 && h ? "0" : "") + m + " min " + (r < 10 ? "0" : "") + r + " s";
  }
  function apply(data) {
    offset = data.at ? data.at - Date.now() / 1000 : 0;
    data.rows.forEach(function (w) {
      var el = document.querySelector('[data-ws="' + w.name + '"]');
      if (!el) return;
      el.dataset.status = w.status; el.dataset.online = w.online ? "true" : "false";
      el.querySelector('[data-field="status"]').textContent = labels[w.status] || w.status;
      el.querySelector('[data-field="member"]').textContent = w.member || "";
      el.querySelector('[data-field="label"]').textContent = w.session_id ? "session " + w.session_id : "";
      el.querySelectorAll('[data-field="session"]').forEach(function (i) { i.value = w.session_id || ""; });
      ends[w.name] = w.ends_at ? w.ends_at : null;
      var rem = el.querySelector('[data-field="remaining"]');
      rem.dataset.seconds = w.remaining == null ? "" : w.remaining;
      if (!w.ends_at) rem.textContent = w.remaining == null ? "" : fmt(w.remaining);
    });
  }
  function tick() {
    var now = Date.now() / 1000 + offset;
    Object.keys(ends).forEach(function (name) {
      if (!ends[name]) return;
      var rem = document.querySelector('[data-ws="' + name + '"] [data-field="remaining"]');
      if (rem) rem.textContent = fmt(ends[name] - now);
    });
  }
  setInterval(tick, 500);
  var url = config.events;
  function poll() {
    fetch(config.poll, {credentials: "same-origin"})
      .then(function (r) { return r.json(); }).then(function (d) { d.at = Date.now() / 1000; apply(d); })
      .catch(function () {}).finally(function () { setTimeout(poll, 2000); });
  }
  if (window.EventSource) {
    var es = new EventSource(url);
    es.onmessage = function (e) { apply(JSON.parse(e.data)); };
  } else { poll(); }
})();
