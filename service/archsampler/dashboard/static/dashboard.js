// archsampler dashboard: reads /api/* with the bearer token, renders with textContent only.
"use strict";

const params = new URLSearchParams(location.search);
const refreshSeconds = Math.min(3600, Math.max(1, Number(params.get("refresh")) || 5));
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("token")) {
  sessionStorage.setItem("archsampler-token", hash.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
let selected = params.get("study");

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fmt(x) {
  return x === null || x === undefined ? "" : Number(x).toPrecision(6).replace(/\.?0+$/, "");
}

function table(id, headers, rows) {
  const t = document.getElementById(id);
  t.replaceChildren();
  const head = el("tr");
  headers.forEach((h) => head.append(el("th", h)));
  t.append(head);
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((c) => {
      if (c instanceof Node) { const td = el("td"); td.append(c); tr.append(td); }
      else tr.append(el("td", c, typeof c === "number" ? "num" : ""));
    });
    t.append(tr);
  });
  return t;
}

async function api(path) {
  const token = sessionStorage.getItem("archsampler-token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const resp = await fetch(path, { headers });
  const body = await resp.json();
  if (resp.status === 401) {
    document.getElementById("login").hidden = false;
    throw new Error("a valid bearer token is needed");
  }
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

function renderStudies(studies) {
  if (!selected && studies.length) selected = studies[0].name;
  const t = table("studies",
    ["name", "namespace", "space", "strategy", "goal", "trials", "completed", "pending"],
    studies.map((s) => {
      const link = el("a", s.name);
      link.href = "?study=" + encodeURIComponent(s.name) + "&refresh=" + refreshSeconds;
      return [link, s.namespace, s.space, s.strategy, s.goal, s.trials, s.completed, s.pending];
    }));
  studies.forEach((s, i) => {
    if (s.name === selected) t.rows[i + 1].className = "selected";
  });
}

function renderCurve(points) {
  const svg = document.getElementById("curve");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const w = 720, h = 260, pad = 40;
  if (!points.length) return;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad);
  const sy = (y) => h - pad - ((y - y0) / (y1 - y0)) * (h - 2 * pad);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map((p) => sx(p[0]) + "," + sy(p[1])).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#1f6feb");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("data-points", String(points.length));
  svg.append(line);
  const labels = [[pad, h - 8, "evaluation " + x0], [w - pad - 90, h - 8, "evaluation " + x1],
                  [4, sy(y1) + 4, fmt(y1)], [4, sy(y0) + 4, fmt(y0)]];
  labels.forEach(([x, y, text]) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("font-size", "11");
    t.textContent = text;
    svg.append(t);
  });
}

function renderStudy(s) {
  document.getElementById("study").hidden = false;
  document.getElementById("study-title").textContent = "Study " + s.name;
  const best = s.best ? "best " + fmt(s.best.value) + " (trial " + s.best.id + ": " + s.best.arch + ")" : "no completed trial yet";
  const counts = Object.entries(s.counts).map(([k, v]) => k + " " + v).join(", ");
  document.getElementById("study-summary").textContent =
    s.config.strategy + " on " + (s.config.space.builtin || "user space") + ", " +
    s.config.goal + "; " + s.trial_count + " trials (" + counts + "); " + best;
  renderCurve(s.curve);
  const single = s.objectives.length < 2;
  document.getElementById("pareto").textContent = single
    ? "single objective (" + s.objectives[0].name + ", " + s.objectives[0].goal + "): the front is the best trial"
    : s.objectives.map((o) => o.name + " " + o.goal).join(", ") + ": " + s.pareto_front.length + " trials on the front";
  renderFront(s);
  table("tree", ["region", "leaf", "samples", "mean", "UCB score", "dry"],
    s.tree.map((n) => [n.path || "(root)", n.leaf ? "leaf" : "", n.count, fmt(n.mean), fmt(n.ucb), n.dry ? "dry" : ""]));
  table("models", ["version", "trained on", "seconds", "validation metrics"],
    s.models.map((m) => [m.version, m.train_size, fmt(m.training_seconds),
      Object.entries(m.metrics).map(([k, v]) => k + " " + fmt(v)).join(", ")]));
  table("trials", ["id", "number", "state", "value", "region", "client", "architecture"],
    s.trials.map((t) => [t.id, t.number, t.state, fmt(t.value), t.region, t.client_id, el("span", t.arch, "arch")]));
}

function renderFront(s) {
  const svg = document.getElementById("front-plot");
  svg.replaceChildren();
  const front = s.pareto_front || [];
  const names = s.objectives.map((o) => o.name);
  table("front", front.length ? ["id", ...names, "architecture"] : [],
    front.map((t) => [t.id, ...names.map((n) => fmt(t.values[n])), el("span", t.arch, "arch")]));
  svg.style.display = front.length ? "" : "none";
  if (!front.length) return;
  const ns = "http://www.w3.org/2000/svg", w = 360, h = 260, pad = 40;
  const all = s.scatter.filter((p) => p[0] !== null && p[1] !== null);
  const pts = front.map((t) => [t.values[names[0]], t.values[names[1]]]);
  const xs = all.concat(pts).map((p) => p[0]), ys = all.concat(pts).map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1e-12), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-12);
  const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad);
  const sy = (y) => h - pad - ((y - y0) / (y1 - y0)) * (h - 2 * pad);
  [[all, "#bbb", 2], [pts, "#d1242f", 4]].forEach(([set, colour, r]) => set.forEach((p) => {
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", sx(p[0])); c.setAttribute("cy", sy(p[1])); c.setAttribute("r", r);
    c.setAttribute("fill", colour);
    svg.append(c);
  }));
  svg.setAttribute("data-front", String(pts.length));
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", pad); label.setAttribute("y", 14); label.setAttribute("font-size", "11");
  label.textContent = names[0] + " (x) vs " + names[1] + " (y); red: the front";
  svg.append(label);
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const { studies } = await api("/api/studies");
    renderStudies(studies);
    if (selected) renderStudy(await api("/api/study?name=" + encodeURIComponent(selected)));
    document.body.dataset.state = "ok";
    status.textContent = "updated " + new Date().toLocaleTimeString() + ", every " + refreshSeconds + " s";
  } catch (err) {
    document.body.dataset.state = "error";
    status.textContent = "error: " + err.message;
  }
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes) + 1);
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("archsampler-token", document.getElementById("token").value);
  document.getElementById("login").hidden = true;
  refresh();
});
refresh();
setInterval(refresh, refreshSeconds * 1000);
