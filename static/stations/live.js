/* Live board and station page: follow the network over the /ws/live/ socket, without reloading.
 *
 * The server renders the rows; events patch them in place (state, status, power, SoC, energy, last seen).
 * When an event names a row the page does not have, or a session starts or stops, the rows are fetched
 * again from the server (debounced), and so they are after every (re)connection, so nothing is missed. */
(function () {
  "use strict";
  const table = document.getElementById("board");
  if (!table) return;
  const tbody = table.tBodies[0];
  const statusStates = JSON.parse(document.getElementById("status-states").textContent);
  const onlyStation = table.dataset.stationFilter || "";
  const stateFilter = table.dataset.stateFilter || "";
  const indicator = document.getElementById("live-status");
  const labels = {};
  document.querySelectorAll("[data-count]").forEach((el) => { labels[el.dataset.count] = el; });

  function setIndicator(state, text) {
    if (!indicator) return;
    indicator.className = "live-status " + state;
    indicator.textContent = text;
  }

  function rowsOf(station) {
    return Array.from(tbody.rows).filter((row) => row.dataset.station === station);
  }

  function stateOf(row) {
    if (row.dataset.online !== "1") return "offline";
    const state = statusStates[row.dataset.status] || "unknown";
    return state === "occupied" && row.dataset.session ? "charging" : state;
  }

  const stateNames = { available: "Available", occupied: "Occupied", charging: "Charging", faulted: "Faulted",
    unavailable: "Unavailable", offline: "Offline", unknown: "Unknown" };

  function applyState(row) {
    const state = stateOf(row);
    row.dataset.state = state;
    const badge = row.querySelector('[data-field="state"]');
    if (badge) {
      badge.className = "state state-" + state;
      badge.textContent = stateNames[state] || state;
    }
    row.hidden = Boolean(stateFilter) && state !== stateFilter;
  }

  function recount() {
    const counts = {};
    Array.from(tbody.rows).forEach((row) => {
      if (row.dataset.state) counts[row.dataset.state] = (counts[row.dataset.state] || 0) + 1;
    });
    Object.keys(labels).forEach((key) => { labels[key].textContent = counts[key] || 0; });
  }

  function cell(row, name) { return row.querySelector('[data-field="' + name + '"]'); }

  function setText(row, name, text) {
    const el = cell(row, name);
    if (el) el.textContent = text;
  }

  function ago(iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 90) return seconds + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h ago";
    return new Date(iso).toLocaleString();
  }

  function tick() {
    tbody.querySelectorAll('[data-field="seen"]').forEach((el) => { el.textContent = ago(el.dataset.time); });
  }

  let refreshTimer = null;
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 400);
  }

  async function refresh() {
    const query = onlyStation ? "station=" + encodeURIComponent(onlyStation) : (table.dataset.query || "");
    try {
      const response = await fetch(table.dataset.rowsUrl + "?" + query, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      tbody.innerHTML = data.rows;
      Array.from(tbody.rows).forEach((row) => { if (row.dataset.station) applyState(row); });
      recount();
      tick();
    } catch (error) {
      /* the next event or reconnection tries again */
    }
  }

  function onStation(event) {
    const rows = rowsOf(event.station);
    if (!rows.length) { if (!onlyStation) refreshSoon(); return; }
    rows.forEach((row) => {
      if ("online" in event) row.dataset.online = event.online ? "1" : "0";
      if (event.last_seen_at) cell(row, "seen").dataset.time = event.last_seen_at;
      applyState(row);
    });
  }

  function onConnector(event) {
    if (!event.connector_id) return; /* connector 0 is the station as a whole, not a row */
    const row = rowsOf(event.station).find((r) => r.dataset.connector === String(event.connector_id));
    if (!row) { refreshSoon(); return; }
    if ("status" in event) {
      row.dataset.status = event.status;
      const code = event.error_code && event.error_code !== "NoError" ? " · " + event.error_code : "";
      setText(row, "status", event.status + code);
    }
    if ("power_w" in event) setText(row, "power", event.power_w == null ? "" : (event.power_w / 1000).toFixed(1));
    if ("soc_percent" in event && row.dataset.session) {
      setText(row, "soc", event.soc_percent == null ? "" : Math.round(event.soc_percent) + " %");
    }
    if ("energy_register_wh" in event && row.dataset.session && row.dataset.meterStart) {
      const energy = event.energy_register_wh - Number(row.dataset.meterStart);
      if (energy >= 0) setText(row, "energy", (energy / 1000).toFixed(2));
    }
    if ("transaction_id" in event && String(event.transaction_id || "") !== row.dataset.session) refreshSoon();
    applyState(row);
    document.dispatchEvent(new CustomEvent("voltgrid:connector", { detail: event }));
  }

  function heard(station) {
    /* Any message from a station is news of it: its "last seen" is now. */
    const now = new Date().toISOString();
    rowsOf(station).forEach((row) => { const seen = cell(row, "seen"); if (seen) seen.dataset.time = now; });
  }

  function handle(event) {
    if (onlyStation && event.station && event.station !== onlyStation) return;
    if (event.station && (event.kind === "connector" || event.kind === "transaction")) heard(event.station);
    if (event.kind === "station") onStation(event);
    else if (event.kind === "connector") onConnector(event);
    else if (event.kind === "transaction") refreshSoon();
    recount();
  }

  let delay = 1000;
  let pinger = null;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/live/");
    socket.onopen = () => {
      delay = 1000;
      setIndicator("live", "live");
      refresh();
      pinger = setInterval(() => socket.send(JSON.stringify({ type: "ping" })), 60000);
    };
    socket.onmessage = (message) => {
      try { handle(JSON.parse(message.data)); } catch (error) { /* not an event */ }
    };
    socket.onclose = () => {
      clearInterval(pinger);
      setIndicator("reconnecting", "reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  Array.from(tbody.rows).forEach((row) => { if (row.dataset.station) applyState(row); });
  recount();
  tick();
  setInterval(tick, 5000);
  connect();
})();
