// RoadGate dashboard: plain JavaScript, no build step, nothing loaded from elsewhere.
// Reads the API key and region from the URL fragment (#key=...&region=...; a fragment never
// reaches a server or its logs) or from this browser's storage, follows the region's live
// stream (/api/v1/regions/{region}/live) and draws the intersection on a canvas.
"use strict";

const SIGNAL_COLOURS = {
  SIGNAL_STATE_GREEN: "#2ecc40",
  SIGNAL_STATE_AMBER: "#ffb000",
  SIGNAL_STATE_RED_AMBER: "#ff7a00",
  SIGNAL_STATE_RED: "#e8262b",
  SIGNAL_STATE_FLASHING_AMBER: "#ffb000",
  SIGNAL_STATE_FLASHING_RED: "#e8262b",
  SIGNAL_STATE_DARK: "#3a3a3a",
};
const UNKNOWN_SIGNAL = "#777777";
const LANE_COLOURS = {
  LANE_TYPE_CROSSWALK: "#d8d8d8",
  LANE_TYPE_BIKE_LANE: "#3d6b8a",
  LANE_TYPE_SIDEWALK: "#8a8a80",
  LANE_TYPE_MEDIAN: "#4a6a4a",
  LANE_TYPE_PARKING: "#4a4a55",
};
const EARTH_RADIUS_M = 6378137;
const MAX_EVENTS = 50;
const VEHICLE_TIMEOUT_MS = 5000;
const DEVICE_REFRESH_MS = 5000;

const state = {
  key: "",
  region: "",
  socket: null,
  retryMs: 500,
  geometry: null,        // the IntersectionGeometry drawn
  spat: new Map(),       // signal group -> SignalState name
  tracks: new Map(),     // roadside unit -> its newest fused objects
  sensors: new Map(),    // sensor id -> {east, north} of the sensor
  vehicles: new Map(),   // device id -> {east, north, heading, speed, seen}
  devices: new Map(),    // device id -> row data
  events: [],
  eventsSeen: 0,
  view: null,            // world -> canvas transform
  heads: [],             // drawn signal heads, for tests and tooltips
  drawnTracks: [],
  dirty: true,
};

// ---- key, region, connection ------------------------------------------------------------

function params() {
  const out = new URLSearchParams(location.hash.slice(1));
  return { key: out.get("key"), region: out.get("region") };
}

async function api(path) {
  const response = await fetch(path, { headers: { "X-API-Key": state.key } });
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status} ${body.reason}: ${body.detail}`);
  return body;
}

async function start() {
  const given = params();
  state.key = given.key || localStorage.getItem("roadgate.key") || "";
  if (!state.key) return askForKey("");
  let regions;
  try {
    regions = (await api("/api/v1/regions")).regions;
  } catch (err) {
    return askForKey(String(err.message || err));
  }
  if (!regions.length) return askForKey("this key may not read any region");
  localStorage.setItem("roadgate.key", state.key);
  const select = document.getElementById("region");
  select.replaceChildren(...regions.map((r) => new Option(r, r)));
  state.region = regions.includes(given.region) ? given.region : regions[0];
  select.value = state.region;
  select.onchange = () => switchRegion(select.value);
  document.getElementById("login").hidden = true;
  document.getElementById("dashboard").hidden = false;
  connect();
  refreshDevices();
  setInterval(refreshDevices, DEVICE_REFRESH_MS);
  requestAnimationFrame(frame);
}

function askForKey(error) {
  document.getElementById("login").hidden = false;
  document.getElementById("dashboard").hidden = true;
  document.getElementById("login-error").textContent = error;
  document.getElementById("login").onsubmit = (e) => {
    e.preventDefault();
    localStorage.setItem("roadgate.key", document.getElementById("key").value);
    history.replaceState(null, "", location.pathname);
    location.reload();
  };
}

function switchRegion(region) {
  state.region = region;
  for (const m of [state.spat, state.tracks, state.sensors, state.vehicles, state.devices]) m.clear();
  state.geometry = null;
  state.events = [];
  renderEvents();
  if (state.socket) state.socket.close();
  else connect();
  refreshDevices();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/regions/${state.region}/live`);
  state.socket = socket;
  socket.onopen = () => {
    socket.send(JSON.stringify({ key: state.key }));
    state.retryMs = 500;
  };
  socket.onmessage = (m) => receive(JSON.parse(m.data));
  socket.onclose = (e) => {
    setConnection(false, e.reason || `closed (${e.code})`);
    state.socket = null;
    // Reconnect with backoff: the bridge may restart, or may have dropped us as too slow.
    setTimeout(connect, state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 10000);
  };
}

function setConnection(on, text) {
  const el = document.getElementById("connection");
  el.textContent = text;
  el.className = on ? "state-on" : "state-off";
}

// ---- live messages ----------------------------------------------------------------------

function receive(m) {
  if (m.region && m.region !== state.region) return;
  switch (m.stream) {
    case "hello": setConnection(true, `live: ${m.region}`); break;
    case "intersection": onIntersection(m); break;
    case "spat": onSpat(m); break;
    case "objects": onObjects(m); break;
    case "state": onState(m); break;
    case "events": onEvent(m); break;
    case "status": deviceRow(m.device_id).status = m.body; renderDevices(); break;
    case "health": deviceRow(m.device_id).health = m.body; renderDevices(); break;
    default: return;
  }
  if (m.device_id) deviceRow(m.device_id).seen = Date.now();
  state.dirty = true;
}

function onIntersection(m) {
  const wanted = Number(new URLSearchParams(location.hash.slice(1)).get("intersection")) || null;
  const id = m.body.intersection_id || 0;
  if (state.geometry && state.geometry.intersection_id !== id) return;
  if (wanted !== null && id !== wanted) return;
  state.geometry = { ...m.body, intersection_id: id, device_id: m.device_id };
  state.view = null;
  document.getElementById("intersection-name").textContent =
    `${m.body.name || "Intersection"} (${id}) - ${m.device_id}`;
}

function onSpat(m) {
  if (state.geometry && (m.body.intersection_id || 0) !== state.geometry.intersection_id) return;
  for (const phase of m.body.phases || []) {
    state.spat.set(phase.signal_group || 0, phase);
  }
  renderSignals();
}

function onObjects(m) {
  const list = m.body;
  const origin = localOf(list.sensor_position);
  if (list.kind === "OBJECT_LIST_KIND_FUSED") {
    state.tracks.set(m.device_id, { objects: list.objects || [], at: Date.now() });
    renderTracks();
  } else if (origin) {
    state.sensors.set(`${m.device_id}/${list.sensor_id}`, origin);
  }
}

function onState(m) {
  const here = localOf(m.body.position);
  if (!here) return;
  state.vehicles.set(m.device_id, {
    ...here, heading: m.body.heading_rad || 0, speed: m.body.speed_mps || 0, seen: Date.now(),
  });
}

function onEvent(m) {
  const e = m.body;
  state.eventsSeen += 1;
  state.events.unshift({
    id: `${m.device_id}/${e.event_id}`,
    time: new Date(m.capture_time_ns / 1e6),
    device: m.device_id,
    kind: [e.application, (e.type || "EVENT_TYPE_UNSPECIFIED").replace("EVENT_TYPE_", "")]
      .filter(Boolean).join(" "),
    severity: (e.severity || "").replace("SEVERITY_", ""),
    text: e.description || "",
    where: localOf(e.position),
    received: Date.now(),
  });
  state.events.length = Math.min(state.events.length, MAX_EVENTS);
  renderEvents();
}

// WGS84 -> metres east/north of the intersection's reference (flat earth: a few hundred m).
function localOf(position) {
  if (!position || !state.geometry || !state.geometry.reference) return null;
  const ref = state.geometry.reference;
  const lat0 = ((ref.latitude_deg || 0) * Math.PI) / 180;
  const dLat = (((position.latitude_deg || 0) - (ref.latitude_deg || 0)) * Math.PI) / 180;
  const dLon = (((position.longitude_deg || 0) - (ref.longitude_deg || 0)) * Math.PI) / 180;
  return { east: dLon * EARTH_RADIUS_M * Math.cos(lat0), north: dLat * EARTH_RADIUS_M };
}

// ---- tables -----------------------------------------------------------------------------

function deviceRow(id) {
  if (!state.devices.has(id)) state.devices.set(id, { id });
  return state.devices.get(id);
}

async function refreshDevices() {
  try {
    const page = await api(`/api/v1/regions/${state.region}/devices?limit=200`);
    for (const d of page.items) {
      const row = deviceRow(d.device_id);
      row.status = row.status || { liveness: d.liveness, role: d.role };
      row.health = row.health || d.health;
      row.lastSeenNs = d.last_seen_ns;
      const loss = await api(`/api/v1/regions/${state.region}/devices/${d.device_id}/loss`);
      row.loss = loss;
    }
    renderDevices();
  } catch (err) {
    setConnection(false, String(err.message || err));
  }
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderDevices() {
  const body = document.querySelector("#devices tbody");
  const rows = [...state.devices.values()].sort((a, b) => a.id.localeCompare(b.id));
  body.replaceChildren(...rows.map((d) => {
    const tr = document.createElement("tr");
    tr.dataset.device = d.id;
    const status = d.status || {};
    const health = d.health || {};
    const seenMs = d.seen || (d.lastSeenNs ? d.lastSeenNs / 1e6 : null);
    const loss = d.loss;
    tr.append(
      cell(d.id),
      cell((status.role || "?").replace("DEVICE_ROLE_", "").toLowerCase()),
      cell((status.liveness || "?").replace("LIVENESS_", "").toLowerCase(), `liveness-${status.liveness}`),
      cell(seenMs ? `${Math.max(0, (Date.now() - seenMs) / 1000).toFixed(1)} s ago` : "never"),
      cell(d.health ? `cpu ${(health.cpu_load || 0).toFixed(2)}, up ${Math.round(health.uptime_s || 0)} s` : ""),
      cell(loss ? `${loss.missing} of ${loss.delivered + loss.missing}` : ""),
    );
    return tr;
  }));
}

function renderTracks() {
  const body = document.querySelector("#tracks tbody");
  const rows = [];
  for (const list of state.tracks.values()) {
    for (const o of list.objects) {
      const tr = document.createElement("tr");
      tr.dataset.track = o.object_id || 0;
      tr.append(
        cell(String(o.object_id || 0)),
        cell(className(o)),
        cell(((o.speed_mps || 0) * 3.6).toFixed(0)),
        cell((o.x_m || 0).toFixed(1)),
        cell((o.y_m || 0).toFixed(1)),
        cell(o.cooperative_id || ""),
      );
      rows.push(tr);
    }
  }
  body.replaceChildren(...rows);
}

function className(o) {
  return (o.object_class || "OBJECT_CLASS_UNKNOWN").replace("OBJECT_CLASS_", "").toLowerCase();
}

function renderEvents() {
  const list = document.getElementById("events");
  list.replaceChildren(...state.events.map((e) => {
    const li = document.createElement("li");
    li.dataset.event = e.id;
    if (Date.now() - e.received < 5000) li.className = "new";
    li.textContent = `${e.time.toLocaleTimeString()} ${e.device}: ${e.kind}` +
      `${e.severity ? ` (${e.severity.toLowerCase()})` : ""} ${e.text}`;
    return li;
  }));
}

function renderSignals() {
  const list = document.getElementById("signals");
  const groups = [...state.spat.entries()].sort((a, b) => a[0] - b[0]);
  list.replaceChildren(...groups.map(([group, phase]) => {
    const li = document.createElement("li");
    li.dataset.group = group;
    li.dataset.state = phase.state || "SIGNAL_STATE_UNSPECIFIED";
    const lamp = document.createElement("span");
    lamp.className = "lamp";
    lamp.style.background = signalColour(phase.state);
    li.append(lamp, ` group ${group}: ${(phase.state || "?").replace("SIGNAL_STATE_", "").toLowerCase()}` +
      ` ${(phase.likely_end_s || 0).toFixed(0)} s`);
    return li;
  }));
}

function signalColour(name) {
  return SIGNAL_COLOURS[name] || UNKNOWN_SIGNAL;
}

// ---- the map ----------------------------------------------------------------------------

function lanes() {
  const out = [];
  for (const approach of (state.geometry && state.geometry.approaches) || []) {
    for (const lane of approach.lanes || []) out.push(lane);
  }
  return out;
}

function point(p) {
  return { east: p.east_m || 0, north: p.north_m || 0 };
}

function fitView(canvas) {
  let minE = -30, maxE = 30, minN = -30, maxN = 30;
  for (const lane of lanes()) {
    for (const p of (lane.points || []).map(point)) {
      minE = Math.min(minE, p.east); maxE = Math.max(maxE, p.east);
      minN = Math.min(minN, p.north); maxN = Math.max(maxN, p.north);
    }
  }
  // The junction and the first 80 m of each arm: far ends would shrink the junction to dots.
  const reach = 80;
  minE = Math.max(minE, -reach); maxE = Math.min(maxE, reach);
  minN = Math.max(minN, -reach); maxN = Math.min(maxN, reach);
  const margin = 10;
  const scale = Math.min(
    canvas.width / (maxE - minE + 2 * margin), canvas.height / (maxN - minN + 2 * margin));
  const cx = (minE + maxE) / 2, cy = (minN + maxN) / 2;
  return {
    scale,
    x: (east) => canvas.width / 2 + (east - cx) * scale,
    y: (north) => canvas.height / 2 - (north - cy) * scale,
  };
}

function frame() {
  const now = Date.now();
  for (const [id, v] of state.vehicles) if (now - v.seen > VEHICLE_TIMEOUT_MS) state.vehicles.delete(id);
  if (state.dirty) {
    state.dirty = false;
    draw();
  }
  document.getElementById("clock").textContent = new Date().toLocaleTimeString();
  requestAnimationFrame(frame);
}

function draw() {
  const canvas = document.getElementById("map");
  const ctx = canvas.getContext("2d");
  if (!state.view) state.view = fitView(canvas);
  const v = state.view;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineCap = "butt";
  ctx.lineJoin = "round";
  // The junction's box: the lanes' ends near the reference (stop lines, lane starts).
  const inner = lanes().flatMap((l) => (l.points || []).map(point))
    .filter((p) => Math.abs(p.east) < 25 && Math.abs(p.north) < 25);
  if (inner.length > 2) {
    const xs = inner.map((p) => p.east), ys = inner.map((p) => p.north);
    const [e0, e1, n0, n1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    ctx.fillStyle = "#4d4d4d";
    ctx.fillRect(v.x(e0) - 4 * v.scale, v.y(n1) - 4 * v.scale,
      (e1 - e0 + 8) * v.scale, (n1 - n0 + 8) * v.scale);
  }
  // Lanes: asphalt first, then markings, then stop lines and signal heads on top.
  for (const lane of lanes()) {
    const pts = (lane.points || []).map(point);
    if (pts.length < 2) continue;
    ctx.strokeStyle = LANE_COLOURS[lane.type] || "#4d4d4d";
    ctx.lineWidth = Math.max(1, (lane.width_m || 3) * v.scale);
    ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(v.x(p.east), v.y(p.north)) : ctx.moveTo(v.x(p.east), v.y(p.north))));
    ctx.stroke();
  }
  ctx.setLineDash([6, 8]);
  ctx.strokeStyle = "rgba(255,255,255,0.35)";
  ctx.lineWidth = 1;
  for (const lane of lanes()) {
    const pts = (lane.points || []).map(point);
    if (pts.length < 2) continue;
    ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(v.x(p.east), v.y(p.north)) : ctx.moveTo(v.x(p.east), v.y(p.north))));
    ctx.stroke();
  }
  ctx.setLineDash([]);
  drawSensors(ctx, v);
  drawEvents(ctx, v);
  drawVehicles(ctx, v);
  drawTracks(ctx, v);
  drawSignals(ctx, v); // last: a car waiting at the stop line must not hide its signal
}

// An ingress lane ends at its stop line; its signal head sits on the lane just before it.
function drawSignals(ctx, v) {
  state.heads = [];
  for (const lane of lanes()) {
    const pts = (lane.points || []).map(point);
    const groups = (lane.connections || []).map((c) => c.signal_group || 0).filter((g) => g > 0);
    if (pts.length < 2 || !groups.length) continue;
    const end = pts[pts.length - 1], before = pts[pts.length - 2];
    const len = Math.hypot(end.east - before.east, end.north - before.north) || 1;
    const ux = (end.east - before.east) / len, uy = (end.north - before.north) / len;
    const half = (lane.width_m || 3) / 2;
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = Math.max(2, 0.4 * v.scale);
    ctx.beginPath();
    ctx.moveTo(v.x(end.east - uy * half), v.y(end.north + ux * half));
    ctx.lineTo(v.x(end.east + uy * half), v.y(end.north - ux * half));
    ctx.stroke();
    const group = groups[0];
    const phase = state.spat.get(group);
    const colour = signalColour(phase && phase.state);
    const x = v.x(end.east - ux * 2.5), y = v.y(end.north - uy * 2.5);
    const radius = Math.max(5, 1.1 * v.scale);
    ctx.fillStyle = "#111";
    ctx.beginPath();
    ctx.arc(x, y, radius + 2, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.fill();
    state.heads.push({ lane: lane.lane_id || 0, group, x, y, state: phase ? phase.state : null, colour });
  }
}

function drawSensors(ctx, v) {
  const places = [...state.sensors.entries()];
  if (state.geometry && !places.length) places.push([state.geometry.device_id, { east: 0, north: 0 }]);
  for (const [name, p] of places) {
    const x = v.x(p.east), y = v.y(p.north);
    ctx.fillStyle = "#ab47bc";
    ctx.fillRect(x - 6, y - 6, 12, 12);
    ctx.fillStyle = "#f3e5f5";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(name, x + 8, y - 8);
  }
}

function drawEvents(ctx, v) {
  const now = Date.now();
  for (const e of state.events) {
    if (!e.where || now - e.received > 10000) continue;
    ctx.strokeStyle = "rgba(255, 80, 80, 0.9)";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(v.x(e.where.east), v.y(e.where.north), 14, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

function drawVehicles(ctx, v) {
  for (const [id, car] of state.vehicles) {
    const x = v.x(car.east), y = v.y(car.north);
    ctx.save();
    ctx.translate(x, y);
    ctx.rotate(car.heading); // clockwise from north = clockwise on a north-up canvas
    ctx.fillStyle = "#ffd54f";
    ctx.beginPath();
    ctx.moveTo(0, -9); ctx.lineTo(6, 7); ctx.lineTo(-6, 7); ctx.closePath();
    ctx.fill();
    ctx.restore();
    ctx.fillStyle = "#ffe082";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(`${id} ${(car.speed * 3.6).toFixed(0)} km/h`, x + 10, y + 14);
  }
}

function drawTracks(ctx, v) {
  state.drawnTracks = [];
  for (const list of state.tracks.values()) {
    for (const o of list.objects) {
      const x = v.x(o.x_m || 0), y = v.y(o.y_m || 0);
      const length = Math.max(6, (o.length_m || 4) * v.scale);
      const width = Math.max(4, (o.width_m || 1.8) * v.scale);
      ctx.save();
      ctx.translate(x, y);
      ctx.rotate(o.heading_rad || 0);
      ctx.fillStyle = o.cooperative_id ? "#4fc3f7" : "#f5f5f5";
      ctx.globalAlpha = o.coasting ? 0.5 : 0.95;
      ctx.fillRect(-width / 2, -length / 2, width, length);
      ctx.restore();
      const label = `#${o.object_id || 0} ${className(o)} ${((o.speed_mps || 0) * 3.6).toFixed(0)} km/h`;
      ctx.fillStyle = "#ffffff";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText(label, x + 10, y - 6);
      state.drawnTracks.push({ id: o.object_id || 0, x, y, label });
    }
  }
}

// What tests (and curious people) can ask the page: the drawn heads and tracks, in canvas px.
window.roadgate = {
  signalHeads: () => state.heads.map((h) => ({ ...h })),
  tracks: () => state.drawnTracks.map((t) => ({ ...t })),
  eventsSeen: () => state.eventsSeen,
  hasIntersection: () => state.geometry !== null,
};

start();
