// The explorer page: plain JS over the /api/ endpoints, charts by the vendored Chart.js.
"use strict";

const params = new URLSearchParams(location.search);
// ?refresh=MS lets a test (or a busy screen) change the interval; under 500 ms is refused.
const REFRESH_MS = Math.max(500, Number(params.get("refresh")) || 5000);
const PAGE = 500; // the API's cap: the timeline draws a user's newest 500 sessions
const KINDS = [
  { key: "session", label: "sessions", color: "#3867d6" },
  { key: "bounce", label: "bounces", color: "#a5adba" },
  { key: "bot", label: "bots", color: "#e55039" },
];
// Round steps for the time axis: 1, 5, 10, 15, 30 minutes, 1, 2, 3, 6, 12 hours, 1 day.
const STEPS_MS = [1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map((m) => m * 60000);
const $ = (id) => document.getElementById(id);
const state = { user: null, sessions: [], total: 0, selected: null };

async function api(path, query = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

const utc = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
const num = (n) => (n == null ? "–" : n.toLocaleString("en-US"));

function dur(ms) {
  if (ms == null) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const [big, small, units] = s < 3600 ? [Math.floor(s / 60), s % 60, "ms"] : [Math.floor(s / 3600), Math.floor(s / 60) % 60, "hm"];
  return small ? `${big}${units[0]} ${String(small).padStart(2, "0")}${units[1]}` : `${big}${units[0]}`;
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text; // never innerHTML: user ids and payloads are data
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

const kindOf = (s) => (s.is_bot ? "bot" : s.is_bounce ? "bounce" : "session");

function userButton(user) {
  const button = el("button", user, { type: "button", "data-user": user });
  button.addEventListener("click", () => showUser(user));
  return button;
}

// Timeline: one floating bar per session, [start, end] on a UTC time axis, a lane per kind.
const timeline = new Chart($("timeline"), {
  type: "bar",
  data: { datasets: [] },
  options: {
    indexAxis: "y",
    maintainAspectRatio: false,
    animation: false,
    parsing: { xAxisKey: "x", yAxisKey: "y" },
    scales: {
      x: { type: "linear", display: false, ticks: { callback: tickLabel, maxRotation: 0, autoSkipPadding: 16 } },
      y: { type: "category" },
    },
    plugins: {
      // Chart.js styles a legend entry like the dataset's first bar: it would show a selected bar's border.
      legend: { position: "bottom", labels: { boxWidth: 12, generateLabels: legendLabels } },
      tooltip: { callbacks: { title: (items) => tooltipTitle(items[0]), label: (item) => tooltipLines(item) } },
    },
    onClick: (event, elements) => {
      if (elements.length) select(timeline.data.datasets[elements[0].datasetIndex].data[elements[0].index].s);
    },
  },
});

function legendLabels(chart) {
  return chart.data.datasets.map((d, i) => ({
    text: d.label, fillStyle: d.backgroundColor, lineWidth: 0, hidden: !chart.isDatasetVisible(i), datasetIndex: i,
  }));
}

// Chart.js calls this with the scale as `this`, while the chart is still being built.
function tickLabel(v) {
  const text = utc(v);
  const span = this.max - this.min;
  return span > 2 * 86400000 ? text.slice(5, 16) : text.slice(11, 16);
}

const tooltipTitle = (item) => `${utc(item.raw.s.start_ms)} → ${utc(item.raw.s.end_ms).slice(11)} UTC`;

function tooltipLines(item) {
  const s = item.raw.s;
  return [
    `duration ${dur(s.duration_ms)} · ${s.event_count} events · ${s.distinct_pages} pages`,
    `entry ${s.entry_page ?? "–"} → exit ${s.exit_page ?? "–"}`,
    `pane ${s.pane}${s.is_bounce ? " · bounce" : ""}${s.is_bot ? " · bot" : ""}`,
  ];
}

function drawTimeline() {
  const present = KINDS.filter((k) => state.sessions.some((s) => kindOf(s) === k.key));
  timeline.data.labels = present.map((k) => k.label);
  timeline.data.datasets = present.map((k) => ({
    label: k.label,
    backgroundColor: k.color,
    borderColor: (ctx) => (ctx.raw?.s.start_ms === state.selected ? "#1d2433" : k.color),
    borderWidth: (ctx) => (ctx.raw?.s.start_ms === state.selected ? 2 : 0),
    borderSkipped: false,
    grouped: false,
    minBarLength: 4, // a bounce lasts 0 ms and would be invisible
    barPercentage: 0.7,
    categoryPercentage: 1,
    data: state.sessions.filter((s) => kindOf(s) === k.key).map((s) => ({ x: [s.start_ms, s.end_ms], y: k.label, s })),
  }));
  timeline.options.scales.x.display = state.sessions.length > 0; // an empty axis would read 00:00 00:00 …
  if (state.sessions.length) {
    const lo = Math.min(...state.sessions.map((s) => s.start_ms));
    const hi = Math.max(...state.sessions.map((s) => s.end_ms));
    const step = STEPS_MS.find((s) => (hi - lo) / s <= 8) ?? 86400000 * Math.ceil((hi - lo) / 8 / 86400000);
    const min = Math.floor(lo / step) * step;
    const max = Math.max(Math.ceil(hi / step) * step, min + step);
    const x = timeline.options.scales.x;
    [x.min, x.max, x.ticks.stepSize] = [min, max, step];
    const days = [utc(lo).slice(0, 10), utc(hi).slice(0, 10)];
    x.title = { display: true, text: `UTC, ${days[0] === days[1] ? days[0] : days.join(" – ")}`, color: "#6b7385" };
  }
  timeline.update("none");
}

function drawSessionTable() {
  const rows = state.sessions.map((s) => {
    const tr = el("tr", null, { "data-start": s.start_ms });
    const flags = el("td");
    if (s.is_bounce) flags.append(el("span", "bounce", { class: "flag" }));
    if (s.is_bot) flags.append(el("span", "bot", { class: "flag bot" }));
    tr.append(
      el("td", utc(s.start_ms)),
      el("td", dur(s.duration_ms)),
      el("td", num(s.event_count)),
      el("td", num(s.distinct_pages)),
      el("td", `${s.entry_page ?? "–"} → ${s.exit_page ?? "–"}`),
      el("td", s.pane),
      flags,
    );
    tr.classList.toggle("selected", state.selected === s.start_ms);
    tr.addEventListener("click", () => select(s));
    return tr;
  });
  $("session-table").tBodies[0].replaceChildren(...rows);
}

function select(s) {
  state.selected = s.start_ms;
  const types = Object.entries(s.event_types).map(([k, v]) => `${k} ${v}`).join(", ");
  const fields = [
    ["start", `${utc(s.start_ms)} UTC`], ["end", `${utc(s.end_ms)} UTC`], ["duration", dur(s.duration_ms)],
    ["events", num(s.event_count)], ["distinct pages", num(s.distinct_pages)],
    ["entry → exit", `${s.entry_page ?? "–"} → ${s.exit_page ?? "–"}`], ["event types", types || "–"],
    ["bounce / bot", `${s.is_bounce ? "yes" : "no"} / ${s.is_bot ? "yes" : "no"}`],
    ["pane", `${s.pane} #${s.pane_index}, written ${utc(s.updated_at_ms)} UTC`],
  ];
  const detail = $("session-detail");
  detail.replaceChildren(...fields.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  detail.hidden = false;
  drawSessionTable();
  timeline.update("none");
}

async function loadUser() {
  const user = state.user;
  try {
    const page = await api("/api/sessions", { user_id: user, limit: PAGE });
    if (user !== state.user) return; // another user was picked meanwhile
    state.sessions = page.sessions;
    state.total = page.total;
    const shown = page.total > page.sessions.length ? `, the newest ${page.sessions.length} drawn` : "";
    $("user-meta").textContent = `${num(page.total)} sessions${shown}. Hover a bar for its stats, click for details.`;
    $("user-meta").dataset.total = page.total;
  } catch (e) {
    if (e.status !== 404) throw e;
    state.sessions = [];
    state.total = 0;
    $("user-meta").textContent = `No sessions stored for this user.`;
    $("user-meta").dataset.total = 0;
  }
  $("user-meta").dataset.user = user; // whose sessions the page now shows
  if (!state.sessions.some((s) => s.start_ms === state.selected)) {
    state.selected = null;
    $("session-detail").hidden = true;
  }
  drawTimeline();
  drawSessionTable();
}

async function showUser(user) {
  state.user = user;
  state.selected = null;
  // Clear the previous user's sessions at once: nothing on screen may pass for the new user's.
  state.sessions = [];
  state.total = 0;
  const meta = $("user-meta");
  meta.textContent = "Loading…";
  delete meta.dataset.total;
  delete meta.dataset.user;
  $("session-detail").hidden = true;
  drawTimeline();
  drawSessionTable();
  $("user-search").value = user;
  $("user-title").textContent = `User ${JSON.stringify(user)}`;
  const url = new URL(location.href);
  url.searchParams.set("user", user);
  history.replaceState(null, "", url);
  await guarded(loadUser);
}

// Histogram of durations, over the sample the API describes.
const histogram = new Chart($("histogram"), {
  type: "bar",
  data: { labels: [], datasets: [{ label: "sessions", data: [], backgroundColor: "#3867d6" }] },
  options: {
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: false } },
    scales: { x: { ticks: { maxRotation: 0, autoSkipPadding: 8 } }, y: { beginAtZero: true, ticks: { precision: 0 } } },
  },
});

async function loadSummary() {
  const s = await api("/api/summary");
  const d = s.durations;
  const values = {
    users: num(s.users), sessions: num(s.sessions), events: num(s.events), bounces: num(s.bounces),
    bots: num(s.bots), mean: dur(s.mean_duration_ms), p50: dur(d.p50_ms), p90: dur(d.p90_ms), p99: dur(d.p99_ms),
    deadletters: num(s.deadletters), late: s.late_dropped === null ? "–" : num(s.late_dropped),
  };
  for (const [k, v] of Object.entries(values)) $(`stat-${k}`).textContent = v;
  $("stat-late").parentElement.title = s.late_dropped === null
    ? "no streaming job writes here"
    : "read from the Flink jobs' metrics (at least)" + (s.late_unreachable.length ? `; no answer from ${s.late_unreachable.join(", ")}` : "");
  $("stat-late").classList.toggle("warn", (s.late_dropped || 0) > 0);
  $("bounce-share").textContent = s.sessions ? ` (${((100 * s.bounces) / s.sessions).toFixed(1)}%)` : "";
  const edges = d.histogram_edges_ms;
  histogram.data.labels = d.histogram_counts.map((_, i) => `${dur(edges[i])}–${dur(edges[i + 1])}`);
  histogram.data.datasets[0].data = d.histogram_counts;
  histogram.update("none");
  const scope = d.complete ? "every stored session" : `a sample: the ${num(d.sampled_users)} most recently active users`;
  $("histogram-note").textContent = `${num(d.sampled_sessions)} sessions, ${scope}. Percentiles are nearest-rank.`;
}

async function loadTop() {
  const { leaders } = await api("/api/top", { limit: 15 });
  const rows = leaders.map((l) => {
    const tr = el("tr");
    const cell = el("td");
    cell.append(userButton(l.user_id));
    tr.append(el("td", l.rank), cell, el("td", num(l.events)));
    return tr;
  });
  $("leaderboard").tBodies[0].replaceChildren(...rows);
}

async function loadDeadLetters() {
  const d = await api("/api/deadletters", { limit: 20 });
  $("deadletter-total").textContent = `${num(d.total)} in all, newest first`;
  const rows = d.letters.map((l) => {
    const tr = el("tr", null, { title: `${l.origin}\n${l.payload}` });
    tr.append(el("td", l.origin.split("/").pop()), el("td", l.code), el("td", l.reason));
    return tr;
  });
  $("deadletters").tBodies[0].replaceChildren(...rows);
}

async function suggest(prefix) {
  const { users } = await api("/api/users", { prefix, limit: 12 });
  const items = users.map((u) => {
    const li = el("li");
    li.append(userButton(u.user_id));
    return li;
  });
  $("suggestions").replaceChildren(...items);
}

// A failed request shows one banner (a 503 says Redis is down) and the page keeps refreshing.
async function guarded(load) {
  try {
    await load();
    return true;
  } catch (e) {
    $("error").textContent = e.message;
    $("error").hidden = false;
    $("status").textContent = "API unavailable, retrying…";
    $("status").classList.add("down");
    return false;
  }
}

async function refresh() {
  const loads = [loadSummary, loadTop, loadDeadLetters];
  if (state.user !== null) loads.push(loadUser);
  const ok = (await Promise.all(loads.map(guarded))).every(Boolean);
  if (ok) {
    $("error").hidden = true;
    $("status").classList.remove("down");
    $("status").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC · every ${REFRESH_MS / 1000}s`;
    $("status").dataset.refreshes = Number($("status").dataset.refreshes || 0) + 1;
  }
  setTimeout(refresh, REFRESH_MS); // after the previous round, so slow rounds never pile up
}

let typing;
$("user-search").addEventListener("input", (e) => {
  clearTimeout(typing);
  typing = setTimeout(() => guarded(() => suggest(e.target.value)), 200);
});
$("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const user = $("user-search").value;
  if (user) showUser(user);
});

window.explorer = {
  state,
  timeline,
  histogram,
  showUser,
  drawnSessions: () => timeline.data.datasets.reduce((n, d) => n + d.data.length, 0),
};
if (params.get("user")) showUser(params.get("user"));
guarded(() => suggest(""));
refresh();
