// The workstation's kiosk page: the time left by Server-Sent Events, else polling.
(function () {
  var config = JSON.parse(document.getElementById("kiosk-config").dataset.config);
  var text = config.text, thresholds = config.thresholds, loginUrl = config.login;
  var row = null, offset = 0, hadSession = false, warned = {}, addedTimer = null;
  var live = ["issued", "running", "suspended"];
  function left() {
    if (!row) return null;
    if (row.ends_at) return Math.max(0, row.ends_at - (Date.now() / 1000 + offset));
    return row.remaining;
  }
  // At the end of a session, after its message was seen: the hotspot's logout with
  // erase-cookie (help.mikrotik.com, "Hotspot customisation": it "makes it impossible to log
  // in with a cookie next time from the same browser"), so the browser keeps nothing the next
  // person could be logged in with; the router then shows its login page for the next code.
  var erasing = false;
  function eraseCookie() {
    if (!loginUrl || erasing) return;
    erasing = true;
    var url = new URL(loginUrl);
    url.pathname = url.pathname.replace(/login$/, "logout");
    url.search = "erase-cookie=on";
    setTimeout(function () { location.href = url.toString(); }, 10000);
  }
  function fmt(s) {
    s = Math.max(0, Math.ceil(s));
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }
  function spoken(s) {
    if (s >= 60) return Math.round(s / 60) + " min";
    return Math.round(s) + " s";
  }
  function show(state) {
    document.body.dataset.state = state;
    document.body.classList.toggle("ended", state === "ended");
    document.getElementById("state").textContent = text[state] || state;
  }
  function update(next, at) {
    offset = at - Date.now() / 1000;
    var before = left();
    var wasLive = row && live.indexOf(row.state) >= 0;
    row = next;
    var isLive = live.indexOf(row.state) >= 0;
    if (isLive) hadSession = true;
    if (!isLive && (wasLive || row.state === "ended") && hadSession) {
      row = {state: "ended", remaining: 0, ends_at: null};
      show("ended");
      document.getElementById("clock").textContent = "0:00";
      document.getElementById("warning").style.display = "none";
      document.body.classList.remove("warn");
      eraseCookie();
      return;
    }
    show(row.state);
    var now = left();
    if (wasLive && before != null && now != null && now > before + 2) {
      var added = document.getElementById("added");
      added.style.display = "block";
      clearTimeout(addedTimer);
      addedTimer = setTimeout(function () { added.style.display = "none"; }, 5000);
      thresholds.forEach(function (t) { if (now > t) delete warned[t]; });
      document.getElementById("warning").style.display = "none";
      document.body.classList.remove("warn");
    }
    // The router must be given the session again (a new or resumed session, a time
    // change): the hotspot's login with the code, back here afterwards (dst). At most
    // every 10 s, even across the page loads this causes.
    var last = Number(sessionStorage.getItem("captiva-kiosk-login") || 0);
    if (row.needs_login && row.code && loginUrl && Date.now() - last > 10000) {
      sessionStorage.setItem("captiva-kiosk-login", String(Date.now()));
      location.href = loginUrl + "?username=" + encodeURIComponent(row.code) + "&password="
        + encodeURIComponent(row.code) + "&dst=" + encodeURIComponent(location.href);
    }
    tick();
  }
  function tick() {
    if (!row || live.indexOf(row.state) < 0) {
      if (row && row.state !== "ended") document.getElementById("clock").textContent = "";
      return;
    }
    var s = left();
    document.getElementById("clock").textContent = s == null ? "" : fmt(s);
    if (row.state !== "running" || s == null) return;
    thresholds.forEach(function (t) {
      if (!warned[t] && s <= t && s > 0) {
        warned[t] = true;
        var w = document.getElementById("warning");
        w.textContent = text.warning.replace("{left}", spoken(t));
        w.dataset.threshold = t;
        w.style.display = "block";
        document.body.classList.add("warn");
      }
    });
  }
  setInterval(tick, 250);
  function poll() {
    fetch("/api/kiosk", {cache: "no-store"}).then(function (r) { return r.json(); })
      .then(function (d) { if (d.row) update(d.row, d.at); })
      .catch(function () {}).finally(function () { setTimeout(poll, 2000); });
  }
  update(config.initial, config.at);
  if (window.EventSource && !/[?&]poll=1/.test(location.search)) {
    var es = new EventSource("/kiosk/events");
    es.onmessage = function (e) { var d = JSON.parse(e.data); update(d.row, d.at); };
  } else { poll(); }
})();
