// The phone view: polls state.json every second and draws each channel as
// its phone shows it. No framework: a small element builder and one render.
"use strict";
const $ = (sel) => document.querySelector(sel);
const list = (x) => (Array.isArray(x) ? x : []);   // cjson writes {} for an empty list
const obj = (x) => (x && typeof x === "object" ? x : {});

// el("div", {class: "x"}, child, "text", ...)
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) e.append(c);
  return e;
}

const time = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "");

// An image property as drawn: the downloaded picture, or the local path
// (it lives in the app's package, which the emulator does not have).
function picture(img) {
  if (!img) return null;
  if (img.src) return el("img", { class: "bg", src: img.src, alt: img.url });
  return el("div", { class: "local", title: img.url }, img.url);
}

// #AARRGGBB to CSS.
function argb(c) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{6})$/i.exec(c || "");
  return m ? `rgba(${parseInt(m[2].slice(0, 2), 16)},${parseInt(m[2].slice(2, 4), 16)},${parseInt(m[2].slice(4), 16)},${parseInt(m[1], 16) / 255})` : null;
}

function face(cls, side, parts) {
  return el("div", { class: "face " + cls, "data-side": side }, parts, el("span", { class: "side" }, side));
}

// The faces of one tile by template: flip (and the 7.x tile) has a front
// and a back, medium and wide; iconic an icon, count and colour; cycle its images.
function faces(t) {
  const f = obj(t.fields), im = obj(t.images);
  const count = f.Count && f.Count !== "0" ? el("span", { class: "count" }, f.Count) : null;
  const title = f.Title ? el("span", { class: "title" }, f.Title) : null;
  if (t.template === "IconicTile") {
    const icon = im.IconImage || im.SmallIconImage;
    const style = argb(f.BackgroundColor) ? `background:${argb(f.BackgroundColor)}` : null;
    const wide = [f.WideContent1, f.WideContent2, f.WideContent3].filter(Boolean);
    return [el("div", { class: "face iconic", "data-side": "front", style },
      el("div", { class: "icon" }, icon ? icon.url : "icon"), count, title, el("span", { class: "side" }, "front")),
      wide.length ? el("div", { class: "face wide iconic", "data-side": "wide", style },
        el("div", { class: "content" }, wide.join(" · ")), count, title) : null];
  }
  if (t.template === "CycleTile") {
    const imgs = Object.keys(im).filter((k) => /^CycleImage/.test(k)).sort().map((k) => im[k].url);
    return [face("cycle", "front", [el("div", { class: "local" }, imgs.length ? "cycles " + imgs.join(", ") : "no images"), count, title])];
  }
  const out = [face("flip", "front", [picture(im.BackgroundImage), count, title])];
  if (f.BackTitle || f.BackContent || im.BackBackgroundImage)
    out.push(face("flip", "back", [picture(im.BackBackgroundImage),
      f.BackContent ? el("div", { class: "content" }, f.BackContent) : null,
      f.BackTitle ? el("span", { class: "title" }, f.BackTitle) : null]));
  if (im.WideBackgroundImage) out.push(face("flip wide", "wide front", [picture(im.WideBackgroundImage), count, title]));
  if (f.WideBackContent || im.WideBackBackgroundImage)
    out.push(face("flip wide", "wide back", [picture(im.WideBackBackgroundImage),
      f.WideBackContent ? el("div", { class: "content" }, f.WideBackContent) : null]));
  return out;
}

function tile(t, pinned) {
  const failed = Object.entries(obj(t.failed)).map(([k, v]) =>
    el("div", { class: "failed" }, `${k}: ${v.outcome} (${v.url}), previous image kept`));
  return el("div", { class: "tilebox" + (pinned ? "" : " unpinned"), "data-tile-id": t.id || "primary",
    "data-template": t.template || "Tile" }, el("div", { class: "faces" }, faces(t)),
    el("span", { class: "tilelabel" }, `${t.template || "Tile"}${t.id ? " " + t.id : " (primary)"}`
      + (pinned ? "" : ", unpinned: as last drawn")), failed);
}

async function put(id, body) {
  await fetch("../control/channels/" + encodeURIComponent(id), {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  refresh(true);
}

function switches(p) {
  const box = (key, label) => el("label", {}, el("input", { type: "checkbox", "data-key": key, checked: !!p[key],
    onchange: (ev) => put(p.id, { [key]: ev.target.checked }) }), " " + label);
  const device = el("select", { "data-key": "device", onchange: (ev) => put(p.id, { device: ev.target.value }) },
    ["Connected", "TempDisconnected", "InActive"].map((d) => el("option", { value: d, selected: d === p.device }, d)));
  return el("div", { class: "switches" }, box("app_running", "app running"), box("tile_pinned", "tile pinned"),
    box("toasts", "toasts on"), device);
}

function status(p) {
  const dev = p.device === "Connected" ? "ok" : p.device === "TempDisconnected" ? "warn" : "bad";
  const sub = p.subscription === "Active" ? "ok" : "bad";
  return el("div", { class: "status" }, el("span", { class: dev, "data-key": "device" }, p.device), " · subscription ",
    el("span", { class: sub, "data-key": "subscription" }, p.subscription),
    ` · ${p.pushes_today} pushes today · ${p.received} received` + (p.queued ? ` · ${p.queued} queued` : ""),
    list(p.allowed_domains).length ? ` · images from ${list(p.allowed_domains).join(", ")}` : " · no image domains allowed",
    p.schedule ? ` · schedule ${p.schedule.interval} ${p.schedule.recurrence} ${p.schedule.uri}` : "");
}

const section = (title, items, empty) =>
  [el("h3", {}, title), items.length ? items : el("div", { class: "empty" }, empty)];

function phone(p) {
  const tiles = list(p.tiles).map((t) => tile(t, p.tile_pinned));
  const toasts = list(p.toasts).map((t) => { const f = obj(t.fields); return el("div", { class: "toast" },
    el("span", { class: "text1" }, f.Text1 || ""), el("span", { class: "text2" }, f.Text2 || ""),
    el("span", { class: "when" }, time(t.time)), f.Param ? el("span", { class: "param" }, f.Param) : null); });
  const raws = list(p.raws).map((r) => el("div", { class: "raw" }, r.text || "", el("span", { class: "when" }, time(r.time))));
  const pushes = list(p.pushes).map((r) => el("tr", {}, el("td", {}, (r.time || "").slice(11, 19)), el("td", {}, r.kind || "?"),
    el("td", { class: r.status === 200 ? "s200" : "sother" }, String(r.status)), el("td", {}, r.notification || "-"), el("td", {}, r.device || "-")));
  const downloads = list(p.downloads).map((d) => el("li", { class: d.outcome === "shown" ? "o-shown" : "o-other" },
    `${d.schedule ? "schedule" : d.field}: ${d.outcome} ${d.bytes ? d.bytes + " B " : ""}${d.url}`));
  return el("section", { class: "phone", "data-channel": p.id }, el("h2", {}, p.id), status(p), switches(p),
    section("Start", tiles.length ? [el("div", { class: "start" }, tiles)] : [], p.tile_pinned ? "no tile update yet" : "tile not pinned"),
    section("Toasts", toasts, "none"), section("Raw notifications (to the app)", raws, "none"),
    section("Image downloads", downloads.length ? [el("ul", { class: "downloads" }, downloads)] : [], "none"),
    section("Last pushes (MPNS's answers)", pushes.length ? [el("table", { class: "pushes" },
      el("tr", {}, ["time", "kind", "HTTP", "notification", "device"].map((h) => el("th", {}, h))), pushes)] : [], "none yet"));
}

let last = "";
async function refresh(force) {
  if (document.hidden && !force) return; // a background tab costs the emulator nothing
  const form = new FormData($("#filter"));
  const url = `state.json?q=${encodeURIComponent(form.get("q") || "")}&limit=${encodeURIComponent(form.get("limit") || 24)}`;
  try {
    const text = await (await fetch(url, { cache: "no-store" })).text();
    if (text === last && !force) return;
    last = text;
    const s = JSON.parse(text);
    const phones = list(s.phones);
    $("#phones").replaceChildren(...phones.map(phone));
    $("#summary").textContent = `${phones.length} of ${s.total} channels · ${s.stats.requests} requests · updated ${time(s.time)}`;
  } catch (err) {
    $("#summary").textContent = "emulator not answering: " + err;
  }
}

$("#filter").addEventListener("input", () => refresh(true));
$("#filter").addEventListener("submit", (ev) => ev.preventDefault());
refresh();
setInterval(refresh, 1000);
