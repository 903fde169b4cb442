// semeq studio: plain JavaScript, no build step, no outside requests.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  info: null, words: [], wordIndex: new Map(), upload: null, original: null,
  region: [0, 0], seq: 0, jobSeq: 0, understandSeq: 0, job: null, design: null, lastPreviewMs: null,
  amounts: new Map(), sliderFor: null, committed: null,
};

// ---------------------------------------------------------------- helpers
function showError(msg) {
  const el = $("error");
  if (!msg) { el.hidden = true; el.textContent = ""; return; }
  el.textContent = msg; el.hidden = false;
}
async function api(path, opts = {}) {
  const res = await fetch(path, opts);
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`, body = {};
    try { body = await res.json(); if (body.error) msg = body.error; } catch (e) { /* not JSON */ }
    if (res.status === 503) msg += ` (retry in ${res.headers.get("Retry-After") || "a few"} s)`;
    const err = new Error(msg); err.status = res.status; err.body = body; throw err;
  }
  return res;
}
const postJSON = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const fmtHz = (f) => (f >= 1000 ? `${+(f / 1000).toFixed(f >= 10000 ? 0 : 1)}k` : `${Math.round(f)}`);
const fmtFreq = (f) => (f >= 1000 ? `${(f / 1000).toFixed(1)} kHz` : `${Math.round(f)} Hz`);
function ordinal(n) {
  const r = Math.round(n), t = r % 100;
  const suffix = t >= 11 && t <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[r % 10] || "th");
  return `${r}${suffix}`;
}
// p-values as people read them: 0.0384, or 1.5e-5 below 0.001 (never "0.0000" or "0.00 %").
const fmtP = (p) => (p < 0.001 ? p.toExponential(1) : p.toFixed(4));
// Elements are built with the DOM, never from HTML strings: text stays text (a phrase or a file
// name cannot inject markup), and sizes and colours go through the CSSOM (el.style), which the
// page's Content-Security-Policy (style-src 'self') allows, where an inline style="" is refused.
function el(tag, opts = {}, ...children) {
  const e = document.createElement(tag);
  if (opts.cls) e.className = opts.cls;
  if (opts.text !== undefined) e.textContent = opts.text;
  if (opts.title) e.title = opts.title;
  if (opts.style) Object.assign(e.style, opts.style);
  for (const c of children) if (c) e.append(c);
  return e;
}
const LANGUAGE = { en: "English", es: "Spanish" };
const langTitle = (code) => `collected in Audealize's ${LANGUAGE[code] || code}-language survey (the language of the contributors, not always of the word)`;
function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

// ---------------------------------------------------------------- audio player (sample-synchronous A/B)
// Every track loops over the same region and starts at the same context time, so switching which
// one is heard (a 5 ms gain ramp) keeps the playback position exactly.
class Player {
  constructor(ctx) {
    this.ctx = ctx; this.tracks = {}; this.active = null; this.playing = false;
    this.loop = [0, 1]; this.t0 = 0; this.pos0 = 0; this.pausedAt = 0;
  }
  setTrack(name, buffer, offsetS = 0, levelDb = 0) {
    const old = this.tracks[name];
    const gain = old ? old.gain : this.ctx.createGain();
    if (!old) { gain.connect(this.ctx.destination); gain.gain.value = name === this.active ? 1 : 0; }
    const tr = { buffer, offset: offsetS, gain, level: Math.pow(10, levelDb / 20), src: null };
    if (old && old.src) { try { old.src.stop(); } catch (e) { /* already stopped */ } }
    this.tracks[name] = tr;
    this._applyGain(name, true);
    if (this.playing) this._startTrack(tr, this.ctx.currentTime, this.position());
  }
  has(name) { return !!this.tracks[name]; }
  removeTrack(name) {
    const tr = this.tracks[name]; if (!tr) return;
    if (tr.src) { try { tr.src.stop(); } catch (e) { /* already stopped */ } }
    tr.gain.disconnect(); delete this.tracks[name];
  }
  setLoop(a, b) {
    const p = this.position();
    this.loop = [a, b];
    if (this.playing) this.play(Math.min(Math.max(p, a), b - 0.01));
    else this.pausedAt = a;
  }
  position() {
    const [a, b] = this.loop;
    if (!this.playing) return this.pausedAt;
    const el = Math.max(0, this.ctx.currentTime - this.t0);
    const len = b - a;
    return a + ((this.pos0 - a + el) % len + len) % len;
  }
  _startTrack(tr, when, pos) {
    const [a, b] = this.loop;
    const src = this.ctx.createBufferSource();
    src.buffer = tr.buffer; src.loop = true;
    src.loopStart = Math.max(0, a - tr.offset); src.loopEnd = Math.min(tr.buffer.duration, b - tr.offset);
    src.connect(tr.gain);
    src.start(when, Math.max(0, pos - tr.offset));
    tr.src = src;
  }
  play(from) {
    this.stop(true);
    const pos = from !== undefined ? from : this.pausedAt;
    this.t0 = this.ctx.currentTime + 0.03; this.pos0 = pos; this.playing = true;
    for (const tr of Object.values(this.tracks)) this._startTrack(tr, this.t0, pos);
  }
  stop(keep) {
    const p = this.position();
    for (const tr of Object.values(this.tracks)) { if (tr.src) { try { tr.src.stop(); } catch (e) { /* */ } tr.src = null; } }
    this.playing = false; if (!keep) this.pausedAt = p;
  }
  _applyGain(name, instant) {
    const tr = this.tracks[name]; if (!tr) return;
    const g = name === this.active ? tr.level : 0;
    if (instant) tr.gain.gain.setValueAtTime(g, this.ctx.currentTime);
    else tr.gain.gain.setTargetAtTime(g, this.ctx.currentTime, 0.005);
  }
  select(name) {
    this.active = name;
    for (const n of Object.keys(this.tracks)) this._applyGain(n, false);
  }
  clear() { this.stop(); for (const tr of Object.values(this.tracks)) tr.gain.disconnect(); this.tracks = {}; }
}

let ctx = null;
function audioContext() {
  if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
  if (ctx.state === "suspended") ctx.resume();
  return ctx;
}
const decode = async (res) => audioContext().decodeAudioData(await res.arrayBuffer());
function rawBuffer(bytes, channels, rate) {
  // Planar float32 (channels, samples) from the server, straight into an AudioBuffer.
  const n = bytes.byteLength / 4 / channels;
  const buf = audioContext().createBuffer(channels, n, rate);
  for (let c = 0; c < channels; c++) buf.copyToChannel(new Float32Array(bytes, c * n * 4, n), c);
  return buf;
}
let player = null, abxPlayer = null;

// ---------------------------------------------------------------- charts
function logX(f, w, pad) { return pad + (Math.log(f / 20) / Math.log(1000)) * (w - 2 * pad); }
function axes(c, lo, hi, ylabel) {
  const g = c.getContext("2d"), W = c.width, H = c.height, P = 34;
  g.clearRect(0, 0, W, H);
  g.font = "11px system-ui, sans-serif"; g.fillStyle = "#6b7383"; g.strokeStyle = "#e6e8ec"; g.lineWidth = 1;
  const y = (v) => 8 + (hi - v) / (hi - lo) * (H - 30);
  for (const f of [50, 100, 200, 500, 1000, 2000, 5000, 10000]) {
    const x = logX(f, W, P); g.beginPath(); g.moveTo(x, 8); g.lineTo(x, H - 22); g.stroke();
    g.textAlign = "center"; g.fillText(fmtHz(f), x, H - 8);
  }
  const step = hi - lo > 16 ? 6 : 3;
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    g.strokeStyle = v === 0 ? "#b8bec9" : "#e6e8ec"; g.beginPath(); g.moveTo(P, y(v)); g.lineTo(W - P, y(v)); g.stroke();
    g.textAlign = "right"; g.fillText(`${v > 0 ? "+" : ""}${v}`, P - 5, y(v) + 4);
  }
  g.save(); g.translate(10, H / 2 - 6); g.rotate(-Math.PI / 2); g.textAlign = "center"; g.fillText(ylabel, 0, 0); g.restore();
  return { g, x: (f) => logX(f, W, P), y };
}
function line(ax, freqs, vals, color, width) {
  const g = ax.g; g.save(); g.beginPath(); g.rect(0, 8, g.canvas.width, g.canvas.height - 30); g.clip();
  g.strokeStyle = color; g.lineWidth = width; g.beginPath(); let pen = false;
  freqs.forEach((f, i) => {
    const v = vals[i]; if (v === null || v === undefined || f < 20 || f > 20000) { pen = false; return; }
    if (pen) g.lineTo(ax.x(f), ax.y(v)); else { g.moveTo(ax.x(f), ax.y(v)); pen = true; }
  });
  g.stroke(); g.restore();
}
function band(ax, freqs, lo, hi, color) {
  const g = ax.g; g.fillStyle = color; g.beginPath(); const pts = [];
  freqs.forEach((f, i) => { if (lo[i] !== null && hi[i] !== null) pts.push([f, lo[i], hi[i]]); });
  if (!pts.length) return;
  pts.forEach(([f, , h], i) => (i ? g.lineTo(ax.x(f), ax.y(h)) : g.moveTo(ax.x(f), ax.y(h))));
  for (let i = pts.length - 1; i >= 0; i--) g.lineTo(ax.x(pts[i][0]), ax.y(pts[i][1]));
  g.closePath(); g.fill();
}
function drawBalance(b) {
  const c = $("balance");
  // The scale follows 40 Hz-16 kHz: lossy files fall off a cliff above, which would squash the rest.
  const inBand = (a) => a.filter((v, i) => v !== null && b.freqs_hz[i] >= 40 && b.freqs_hz[i] <= 16000);
  const cor = b.corridor || {};
  const all = inBand(b.balance_db).concat(...Object.values(cor).map(inBand));
  const m = Math.min(24, Math.max(9, Math.ceil(Math.max(...all.map(Math.abs)) / 3) * 3));
  const ax = axes(c, -m, m, "dB");
  const key = (colour, text) => el("span", {}, el("i", { style: { background: colour } }), text);
  const legend = [key("#d9822b", "this recording")];
  if (cor.p10 && cor.p90) { band(ax, b.freqs_hz, cor.p10, cor.p90, "rgba(47,111,237,0.10)"); legend.push(key("rgba(47,111,237,0.18)", "music reference 10–90 %")); }
  if (cor.p25 && cor.p75) { band(ax, b.freqs_hz, cor.p25, cor.p75, "rgba(47,111,237,0.18)"); legend.push(key("rgba(47,111,237,0.32)", "25–75 %")); }
  if (cor.p50) { line(ax, b.freqs_hz, cor.p50, "rgba(47,111,237,0.6)", 1); legend.push(key("rgba(47,111,237,0.6)", "median")); }
  else legend.push(key("#b8bec9", "0 dB = the reference balance"));
  line(ax, b.freqs_hz, b.balance_db, "#d9822b", 2.5);
  if (b.cutoff_hz) legend.push(el("span", { text: `content ends near ${fmtFreq(b.cutoff_hz)}` }));
  $("balance-legend").replaceChildren(...legend);
}
function drawEQ(d, message) {
  const c = $("eq");
  const vals = d ? d.curve.gain_db : [0];
  const m = Math.max(6, Math.ceil(Math.max(...vals.map(Math.abs)) / 3) * 3);
  const ax = axes(c, -m, m, "dB");
  if (!d) {
    if (message) { const g = ax.g; g.fillStyle = "#c23b22"; g.font = "14px system-ui, sans-serif"; g.textAlign = "center"; g.fillText(message, c.width / 2, c.height / 2 - 12); }
    return;
  }
  line(ax, d.curve.freqs_hz, d.curve.gain_db, "#2f6fed", 2.5);
  if (d.bands) {
    const b = d.bands, g = ax.g;
    const pts = [["low_shelf", b.low_shelf_freq_hz, b.low_shelf_gain_db], ["peak1", b.peak1_freq_hz, b.peak1_gain_db],
      ["peak2", b.peak2_freq_hz, b.peak2_gain_db], ["peak3", b.peak3_freq_hz, b.peak3_gain_db],
      ["high_shelf", b.high_shelf_freq_hz, b.high_shelf_gain_db]];
    pts.forEach(([, f, gdb], i) => {
      g.fillStyle = "#fff"; g.strokeStyle = "#2f6fed"; g.lineWidth = 1.5;
      g.beginPath(); g.arc(ax.x(f), ax.y(Math.max(-m, Math.min(m, gdb))), 5, 0, 7); g.fill(); g.stroke();
      g.fillStyle = "#2f6fed"; g.font = "10px system-ui"; g.textAlign = "center"; g.fillText(String(i + 1), ax.x(f), ax.y(Math.max(-m, Math.min(m, gdb))) - 8);
    });
  }
}
function drawBands(d) {
  const body = $("bands").querySelector("tbody");
  body.replaceChildren();
  if (!d || !d.bands) { $("bands-note").textContent = d && d.is_bypass ? "exact bypass: no EQ (the input unchanged)" : ""; return; }
  const b = d.bands;
  const rows = [["1 low shelf", b.low_shelf_gain_db, b.low_shelf_freq_hz, null], ["2 peak", b.peak1_gain_db, b.peak1_freq_hz, b.peak1_q],
    ["3 peak", b.peak2_gain_db, b.peak2_freq_hz, b.peak2_q], ["4 peak", b.peak3_gain_db, b.peak3_freq_hz, b.peak3_q],
    ["5 high shelf", b.high_shelf_gain_db, b.high_shelf_freq_hz, null]];
  for (const [name, g, f, q] of rows) {
    body.append(el("tr", {}, el("td", { text: name }), el("td", { text: `${g >= 0 ? "+" : ""}${g.toFixed(2)} dB` }),
      el("td", { text: f >= 1000 ? (f / 1000).toFixed(2) + " kHz" : f.toFixed(0) + " Hz" }),
      el("td", { text: q === null ? "0.71" : q.toFixed(2) })));
  }
  $("bands-note").textContent = "These five bands are exactly what is applied (SAFE layout, shelves Q 0.71)" +
    (d.fit_rms_error_db !== null ? `; they follow the designed change within ${d.fit_rms_error_db.toFixed(2)} dB RMS.` : ".");
}
function drawProfile(profile) {
  const box = $("profile"); box.replaceChildren(); box.classList.remove("empty");
  const usePct = profile.some((e) => e.percentile !== null);
  $("profile-hint").textContent = usePct ? "percentile of each word vs the music reference" : "score 0–1: how much of each word the recording already has";
  for (const e of profile) {
    const v = usePct ? e.percentile : 100 * e.score;
    const w = el("div", { cls: "w", text: e.word, title: `use “${e.word}” as the word` },
      el("span", { cls: "lang", text: e.language, title: langTitle(e.language) }));
    w.onclick = () => { $("word").value = e.word; wordChanged(); };
    const bar = el("div", { cls: "bar" }, el("div", { style: { width: `${Math.max(2, v).toFixed(1)}%` } }));
    const val = el("div", { cls: "v", text: usePct ? `${ordinal(v)} pct` : e.score.toFixed(2),
      title: usePct ? `more “${e.word}” than ${Math.round(v)} % of the reference music` : "" });
    box.append(w, bar, val);
  }
}
function drawWave() {
  const c = $("wave"), g = c.getContext("2d"), W = c.width, H = c.height;
  g.clearRect(0, 0, W, H); g.fillStyle = "#f7f8fa"; g.fillRect(0, 0, W, H);
  if (!state.original) return;
  const buf = state.original, dur = buf.duration, x = (t) => (t / dur) * W;
  const [a, b] = state.region;
  g.fillStyle = "rgba(47,111,237,0.12)"; g.fillRect(x(a), 0, x(b) - x(a), H);
  if (!state.peaks) {
    const ch = buf.getChannelData(0), step = Math.max(1, Math.floor(ch.length / W)), peaks = [];
    for (let i = 0; i < W; i++) {
      let lo = 0, hi = 0;
      for (let j = i * step, e = Math.min(ch.length, j + step); j < e; j += 4) { const v = ch[j]; if (v < lo) lo = v; if (v > hi) hi = v; }
      peaks.push([lo, hi]);
    }
    state.peaks = peaks;
  }
  g.fillStyle = "#8d97a8";
  state.peaks.forEach(([lo, hi], i) => g.fillRect(i, H / 2 - hi * H * 0.45, 1, Math.max(1, (hi - lo) * H * 0.45)));
  g.strokeStyle = "#2f6fed"; g.lineWidth = 2; g.strokeRect(x(a) + 1, 1, x(b) - x(a) - 2, H - 2);
  if (player) { const p = player.position(); g.fillStyle = "#c23b22"; g.fillRect(x(p) - 1, 0, 2, H); }
  g.fillStyle = "#6b7383"; g.font = "11px system-ui"; g.fillText(`${dur.toFixed(1)} s`, W - 44, H - 6);
}

// ---------------------------------------------------------------- type-ahead over the vocabulary
function typeahead(input, list, onPick) {
  let items = [], sel = -1;
  const render = () => {
    list.replaceChildren();
    items.forEach((w, i) => {
      const li = el("li", { cls: i === sel ? "sel" : "" }, el("span", { text: w.word }),
        el("span", { cls: "lang", text: w.language, title: langTitle(w.language) }),
        el("span", { cls: `conf${w.low_confidence ? " low" : ""}`, title: `confidence ${w.confidence}` },
          el("div", { style: { width: `${(100 * w.confidence).toFixed(0)}%` } })));
      li.onmousedown = (ev) => { ev.preventDefault(); pick(w.word); };
      list.append(li);
    });
    list.hidden = items.length === 0;
  };
  // A phrase is welcome ("a bit warmer", "less boomy"): the list completes its last word.
  const head = () => { const v = input.value; const i = v.search(/\S+$/); return i < 0 ? v : v.slice(0, i); };
  const pick = (word) => { input.value = head() + word; items = []; render(); onPick(input.value.trim()); };
  input.addEventListener("input", () => {
    const m = input.value.match(/(\S+)$/);
    const q = m ? m[1].toLowerCase() : "";
    if (!q) { items = []; render(); return; }
    const starts = [], has = [];
    for (const w of state.words) {
      const k = w.word.toLowerCase();
      if (k.startsWith(q)) starts.push(w); else if (k.includes(q)) has.push(w);
    }
    const byConf = (a, b) => b.confidence - a.confidence;
    items = starts.sort(byConf).concat(has.sort(byConf)).slice(0, 12); sel = items.length ? 0 : -1; render();
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") { sel = Math.min(items.length - 1, sel + 1); render(); ev.preventDefault(); }
    else if (ev.key === "ArrowUp") { sel = Math.max(0, sel - 1); render(); ev.preventDefault(); }
    else if (ev.key === "Enter") { if (sel >= 0 && items[sel]) pick(items[sel].word); else { items = []; render(); onPick(input.value.trim()); } ev.preventDefault(); }
    else if (ev.key === "Escape") { items = []; render(); }
  });
  input.addEventListener("blur", () => { items = []; render(); onPick(input.value.trim()); });
}

// ---------------------------------------------------------------- settings, preview and render
function settings() {
  const mode = document.querySelector('input[name="mode"]:checked').value;
  const blend = $("blend").value.trim();
  const s = { target: $("word").value.trim(), mode };
  // A phrase that names an amount ("a bit warmer": 0.3) sets the intensity, as on the command line,
  // until the slider is moved for that phrase; then the slider wins (and the server notes it).
  const amount = state.amounts.get(s.target);
  if ($("auto").checked) s.intensity = "auto";
  else if (amount === undefined || amount === null || state.sliderFor === s.target) s.intensity = parseFloat($("intensity").value);
  if (blend) { s.blend = blend; s.alpha = parseFloat($("alpha").value); }
  if ($("dynamic").checked) s.dynamic = true;
  return s;
}
function wordMeta() {
  const w = state.wordIndex.get($("word").value.trim().toLowerCase());
  const meta = $("word-meta");
  meta.textContent = w ? `${LANGUAGE[w.language] || w.language} survey · confidence ${w.confidence.toFixed(2)}${w.low_confidence ? " (low)" : ""}` : "";
  meta.title = w ? langTitle(w.language) : "";
}
function modeHelp() {
  const mode = document.querySelector('input[name="mode"]:checked').value;
  $("mode-help").textContent = state.info && state.info.mode_help ? `${mode}: ${state.info.mode_help[mode]}` : "";
}

// How the server understands the word box, shown under it as the user types (debounced).
function showUnderstood(description, err) {
  const box = $("understood");
  box.replaceChildren(); box.classList.toggle("bad", !!err);
  if (description) { box.textContent = description; return; }
  if (!err) return;
  box.append(el("span", { text: err.error || "not understood" }));
  const suggestions = err.suggestions || [];
  if (suggestions.length) {
    box.append(el("span", { cls: "muted", text: " · try " }));
    const blend = $("blend").value.trim();
    const inBlend = blend && (err.error || "").includes(`'${blend}'`);
    for (const w of suggestions) {
      const chip = el("button", { cls: "chip", text: w, title: `use “${w}”` });
      chip.onclick = () => {
        const input = inBlend ? $("blend") : $("word");
        input.value = input.value.trim().replace(/\S+$/, w);
        wordChanged();
      };
      box.append(chip);
    }
  }
}
const understandNow = debounce(async () => {
  const text = $("word").value.trim(), seq = ++state.understandSeq;
  if (!text) { showUnderstood(null, null); return; }
  try {
    const res = await fetch(`/api/understand?text=${encodeURIComponent(text)}`);
    const body = await res.json();
    if (res.ok) state.amounts.set(text, body.understood.intensity);
    if (seq !== state.understandSeq) return;
    if (res.ok) showUnderstood(body.description, null); else showUnderstood(null, body);
    if (res.ok && text === state.committed) settingsChanged();  // its amount may change the intensity
  } catch (e) { /* the next keystroke asks again */ }
}, 150);

// An unknown word: nothing on screen may still show the previous word's EQ.
function markStale(err) {
  state.design = null; state.seq++; state.jobSeq++;
  document.body.dataset.stale = "1";
  drawEQ(null, "no EQ: the word is not understood");
  drawBands(null);
  $("eq-hint").textContent = "nothing applied: the settings above are not understood";
  $("suggestion").textContent = "";
  $("preview-info").textContent = "";
  setDownloads(null);
  $("render-bar").style.width = "0%";
  $("render-info").textContent = "full render: waiting for a word the engine understands";
  if (player) player.removeTrack("B");
  selectAB("A");
  $("btn-b").disabled = true; $("abx-begin").disabled = true;
  showUnderstood(null, err);
}
function clearStale() {
  delete document.body.dataset.stale;
  $("btn-b").disabled = false;
}

let lastWord = null;
function settingsChanged() {
  const key = JSON.stringify(settings());
  if (key !== lastWord) { lastWord = key; update(); }
}
function wordChanged() {
  state.committed = $("word").value.trim();
  wordMeta(); understandNow(); settingsChanged();
}
function showIntensity(x) { $("intensity").value = x; $("intensity-out").textContent = x.toFixed(2); }
function explain(d) {
  const parts = [];
  if (d.suggestion) parts.push(`auto-intensity: ${d.suggestion.explanation}`);
  parts.push(...(d.notes || []));
  const entry = state.upload && state.upload.analysis.profile.find((e) => e.word === d.settings.label);
  if (entry && d.settings.mode === "toward" && d.need !== null && d.need < 0.3)
    parts.push(`(this recording has more “${entry.word}” than ${Math.round(entry.percentile)} % of the reference music)`);
  return parts.join(" · ");
}
const update = debounce(async () => {
  if (!state.upload) return;
  const s = settings();
  if (!s.target) return;
  const seq = ++state.seq;
  const t0 = performance.now();
  $("preview-info").textContent = "rendering preview…";
  try {
    const res = await postJSON(`/api/uploads/${state.upload.upload}/preview`, { ...s, start_s: state.region[0], end_s: state.region[1], format: "f32" });
    const d = JSON.parse(res.headers.get("X-Semeq-Design"));
    const origDb = parseFloat(res.headers.get("X-Semeq-Original-Gain-Db"));
    const serverMs = parseFloat(res.headers.get("X-Semeq-Render-Ms"));
    const buf = rawBuffer(await res.arrayBuffer(), parseInt(res.headers.get("X-Semeq-Channels"), 10),
      parseInt(res.headers.get("X-Semeq-Sample-Rate"), 10));
    if (seq !== state.seq) return; // a newer change is on its way
    showError(null); clearStale();
    state.design = d;
    player.setTrack("A", state.original, 0, origDb);
    player.setTrack("B", buf, state.region[0], 0);
    if (document.body.dataset.ab === "B") selectAB("B");
    const ms = performance.now() - t0;
    state.lastPreviewMs = ms;
    $("preview-info").textContent = `preview of ${(state.region[1] - state.region[0]).toFixed(1)} s ready in ${(ms / 1000).toFixed(2)} s (server ${(serverMs / 1000).toFixed(2)} s) · A lowered ${(-origDb).toFixed(1)} dB to match`;
    $("preview-info").dataset.ms = ms.toFixed(0);
    state.amounts.set(d.settings.target, d.request.target.intensity);
    if (d.settings.auto_intensity || d.settings.intensity_source === "amount") showIntensity(d.intensity);
    $("suggestion").textContent = explain(d);
    const blend = d.settings.blend ? ` + “${d.settings.blend}” ${d.settings.alpha.toFixed(2)}` : "";
    $("eq-hint").textContent = `${d.settings.mode} “${d.settings.target}”${blend}, intensity ${d.intensity.toFixed(2)}, ${d.change_rms_db.toFixed(2)} dB RMS change`;
    drawEQ(d);
    // The table shows the full design's five bands (what the download applies); the preview's
    // warm-started design is shown until it arrives.
    drawBands(d);
    if (!d.is_bypass) fetchBands(s, seq);
    $("play").disabled = false; $("abx-begin").disabled = d.is_bypass;
    scheduleRender();
  } catch (e) {
    if (seq !== state.seq) return;
    $("preview-info").textContent = "";
    if (e.status === 422) markStale(e.body); else showError(e.message);
  }
}, 120);

async function fetchBands(s, seq) {
  try {
    const d = await (await postJSON(`/api/uploads/${state.upload.upload}/design`, s)).json();
    if (seq === state.seq) { state.design = d; drawEQ(d); drawBands(d); }
  } catch (e) { if (seq === state.seq) showError(e.message); }
}

const scheduleRender = debounce(startRender, 600);
async function startRender() {
  if (!state.upload || document.body.dataset.stale) return;
  const s = settings(), seq = ++state.jobSeq;
  const upload = state.upload.upload;
  setDownloads(null);
  $("render-bar").style.width = "0%"; $("render-info").textContent = "full render: queued";
  try {
    const job = await (await postJSON(`/api/uploads/${upload}/render`, s)).json();
    state.job = job.job;
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      if (seq !== state.jobSeq) return;
      const st = await (await api(`/api/jobs/${job.job}`)).json();
      $("render-bar").style.width = `${(100 * st.progress).toFixed(0)}%`;
      $("render-info").textContent = `full render: ${st.state} ${(100 * st.progress).toFixed(0)} %`;
      if (["failed", "cancelled", "replaced"].includes(st.state)) { $("render-info").textContent = `full render ${st.state}: ${st.error}`; return; }
      if (st.state === "done") {
        const buf = await decode(await api(`/api/jobs/${job.job}/listen.wav`));
        if (seq !== state.jobSeq) return;
        player.setTrack("A", state.original, 0, st.original_gain_db);
        player.setTrack("B", buf, 0, 0);
        if (document.body.dataset.ab === "B") selectAB("B");
        $("render-info").textContent = `full render done: ${st.download_name}`;
        setDownloads(job.job, st.download_name, st.presets);
        return;
      }
    }
  } catch (e) { if (seq === state.jobSeq) $("render-info").textContent = `full render failed: ${e.message}`; }
}
function setDownloads(job, name, presets = []) {
  for (const [id, path] of [["dl-audio", "download"], ["dl-settings", "settings.json"]]) {
    const a = $(id);
    if (job) { a.href = `/api/jobs/${job}/${path}`; a.classList.remove("disabled"); a.setAttribute("download", id === "dl-audio" ? name : ""); }
    else { a.removeAttribute("href"); a.classList.add("disabled"); }
  }
  setPresets(job ? presets : []);
}

// One download per preset format the server offers (semeq.export.FORMATS, from /api/info); a format
// whose plugin cannot hold this render's setting stays disabled and the page says why.
const PRESET_LABEL = { lsp: "LSP (LV2)", apo: "Equalizer APO", easyeffects: "EasyEffects", audacity: "Audacity", "audacity-xml": "Audacity XML" };
function buildPresetLinks(formats) {
  $("presets").replaceChildren(...formats.map((f) => {
    const a = el("a", { cls: "button preset disabled", text: PRESET_LABEL[f.format] || f.format, title: `${f.title} · loads in: ${f.hosts}` });
    a.id = `dl-preset-${f.format}`; a.dataset.format = f.format;
    return a;
  }));
}
function setPresets(presets) {
  const byFormat = new Map(presets.map((p) => [p.format, p]));
  const refused = [];
  for (const a of document.querySelectorAll("#presets a")) {
    const p = byFormat.get(a.dataset.format);
    a.classList.toggle("refused", !!(p && p.error));
    if (p && p.url) { a.href = p.url; a.setAttribute("download", p.filename); a.classList.remove("disabled"); }
    else { a.removeAttribute("href"); a.removeAttribute("download"); a.classList.add("disabled"); }
    if (p && p.error) refused.push(`${a.textContent}: ${p.error}`);
  }
  $("preset-error").textContent = refused.join(" · ");
}

// ---------------------------------------------------------------- upload
async function uploadFile(file) {
  showError(null);
  if (state.info && file.size > state.info.max_upload_bytes) {
    showError(`${file.name}: ${(file.size / 1048576).toFixed(1)} MB is larger than the ${(state.info.max_upload_bytes / 1048576).toFixed(0)} MB limit`);
    return;
  }
  $("file-info").textContent = `uploading and analysing ${file.name}…`;
  const form = new FormData(); form.append("file", file, file.name);
  try {
    const res = await api("/api/uploads", { method: "POST", body: form });
    const u = await res.json();
    const orig = await decode(await api(`/api/uploads/${u.upload}/original.wav`));
    if (player) player.clear();
    player = new Player(audioContext()); player.active = "B";
    state.upload = u; state.original = orig; state.peaks = null;
    state.region = [0, Math.min(u.duration_s, 30)];
    $("start").value = "0"; $("end").value = state.region[1].toFixed(2);
    player.setLoop(...state.region);
    player.setTrack("A", orig, 0, 0);
    $("file-info").textContent = `${u.name} · ${u.duration_s.toFixed(1)} s · ${u.sample_rate} Hz · ${u.channels} ch · ${u.format} ${u.subtype}`;
    drawProfile(u.analysis.profile); drawBalance(u.analysis.balance); drawWave();
    selectAB("B"); lastWord = null; wordChanged();
  } catch (e) { $("file-info").textContent = ""; showError(`${file.name}: ${e.message}`); }
}

// ---------------------------------------------------------------- transport
function selectAB(which) {
  if (which === "B" && $("btn-b").disabled) return; // nothing to hear as B: the word is not understood
  if (player) player.select(which);
  $("btn-a").classList.toggle("active", which === "A"); $("btn-b").classList.toggle("active", which === "B");
  document.body.dataset.ab = which;
}
function togglePlay() {
  if (!player || $("play").disabled) return;
  audioContext();
  if (player.playing) { player.stop(); $("play").textContent = "▶ Play"; }
  else { player.play(); $("play").textContent = "❚❚ Pause"; }
}
function setRegion(a, b, fromInputs) {
  if (!state.original) return;
  const dur = state.original.duration, maxLen = state.info ? state.info.max_region_s : 60;
  a = Math.max(0, Math.min(a, dur - 0.5)); b = Math.min(dur, Math.max(b, a + 0.5));
  if (b - a > maxLen) b = a + maxLen;
  state.region = [a, b];
  if (!fromInputs) { $("start").value = a.toFixed(2); $("end").value = b.toFixed(2); }
  player.setLoop(a, b); drawWave(); update();
}
function tick() {
  if (player) { $("pos").textContent = player.position().toFixed(2); if (player.playing) drawWave(); }
  requestAnimationFrame(tick);
}

// ---------------------------------------------------------------- ABX
const abx = { session: null, n: 0, trial: 0, busy: false, answers: [] };
async function abxStart() {
  if (!state.upload) return;
  showError(null);
  const n = parseInt($("abx-n").value, 10);
  try {
    const s = await (await postJSON("/api/abx/sessions", { upload: state.upload.upload, ...settings(), n_trials: n,
      start_s: state.region[0], end_s: state.region[1] })).json();
    if (player && player.playing) togglePlay();
    abx.session = s.session; abx.n = s.n_trials; abx.trial = s.trial; abx.answers = [];
    if (abxPlayer) abxPlayer.clear();
    abxPlayer = new Player(audioContext());
    const [a, b] = await Promise.all(["A", "B"].map(async (w) => decode(await api(`/api/abx/sessions/${s.session}/${w}.wav`))));
    abxPlayer.setLoop(0, Math.min(a.duration, b.duration));
    abxPlayer.setTrack("A", a); abxPlayer.setTrack("B", b);
    const st = settings();
    $("abx-what").textContent = `${state.upload.name} · ${st.mode} “${st.target}” · intensity ${state.design ? state.design.intensity.toFixed(2) : st.intensity} · loop ${state.region[0].toFixed(1)}–${state.region[1].toFixed(1)} s`;
    $("abx-total").textContent = abx.n;
    $("abx-idle").hidden = true; $("abx-result").hidden = true; $("abx-active").hidden = false;
    showView("abx");
    await abxLoadTrial();
  } catch (e) { showError(`ABX: ${e.message}`); }
}
async function abxLoadTrial() {
  abx.busy = true;
  $("abx-trial").textContent = abx.trial; $("abx-bar").style.width = `${(100 * (abx.trial - 1) / abx.n).toFixed(0)}%`;
  const x = await decode(await api(`/api/abx/sessions/${abx.session}/trials/${abx.trial}/X.wav`));
  abxPlayer.setTrack("X", x);
  abxSelect("X");
  abx.busy = false;
  document.body.dataset.abxTrial = String(abx.trial);
}
function abxSelect(w) {
  abxPlayer.select(w);
  for (const k of ["a", "b", "x"]) $(`abx-${k}`).classList.toggle("active", k.toUpperCase() === w);
}
async function abxAnswer(ans) {
  if (!abx.session || abx.busy) return;
  abx.busy = true;
  try {
    const r = await (await postJSON(`/api/abx/sessions/${abx.session}/answer`, { trial: abx.trial, answer: ans })).json();
    if (r.done) { abxFinish(r); return; }
    abx.trial = r.next_trial;
    await abxLoadTrial();
  } catch (e) { showError(`ABX: ${e.message}`); abx.busy = false; }
}
function abxFinish(r) {
  if (abxPlayer) abxPlayer.clear();
  $("abx-play").textContent = "▶ Play";
  $("abx-active").hidden = true; $("abx-result").hidden = false;
  $("res-correct").textContent = r.result.correct; $("res-total").textContent = r.result.total;
  $("res-p").textContent = fmtP(r.result.p_value);
  const sig = r.result.p_value < 0.05;
  const v = $("res-verdict"); v.classList.toggle("sig", sig);
  v.textContent = sig ? `Below 0.05: you heard a difference (guessing does at least this well with probability p = ${fmtP(r.result.p_value)}).`
    : "Not below 0.05: these answers are consistent with guessing; the difference was not reliably heard.";
  $("res-trials").replaceChildren(...r.trials.map((t) => el("span", { cls: t.correct ? "ok" : "no", text: String(t.trial),
    title: `trial ${t.trial}: X was ${t.x}, answered ${t.answer}, ${(t.response_ms / 1000).toFixed(1)} s` })));
  $("res-what").textContent = $("abx-what").textContent;
  $("view-history").hidden = false;
  document.body.dataset.abxDone = "1";
  abx.session = null;
  loadHistory();
}
async function loadHistory() {
  try {
    const h = await (await api("/api/abx/history")).json();
    $("db-path").textContent = h.db;
    const body = $("history").querySelector("tbody"); body.replaceChildren();
    for (const s of h.sessions) {
      const st = s.settings, word = st.target + (st.blend ? ` + ${st.blend}` : "");
      const inten = st.intensity === null ? `auto (${st.intensity_applied})` : Number(st.intensity).toFixed(2);
      // An unfinished session shows no result: not even to this page (see the README on ABX).
      const score = s.complete ? `${s.correct}/${s.answered}` : `unfinished (${s.answered} of ${s.n_trials})`;
      body.append(el("tr", { cls: s.p_value !== null && s.p_value < 0.05 ? "sig" : "" },
        el("td", { text: s.created_at.slice(0, 16).replace("T", " ") }), el("td", { text: s.file_name }),
        el("td", { text: word }), el("td", { text: st.mode }), el("td", { cls: "num", text: inten }),
        el("td", { cls: "num", text: score }), el("td", { cls: "num", text: s.p_value === null ? "–" : fmtP(s.p_value) })));
    }
  } catch (e) { showError(e.message); }
}
function showView(name) {
  for (const v of ["studio", "abx", "history"]) { $(`view-${v}`).hidden = v !== name; $(`tab-${v}`).classList.toggle("active", v === name); }
  if (name === "history" || name === "abx") loadHistory();
  if (name === "abx" && !$("abx-result").hidden) $("view-history").hidden = false;
}

// ---------------------------------------------------------------- wiring
async function init() {
  try {
    state.info = await (await api("/api/info")).json();
    const v = await (await api("/api/vocabulary")).json();
    state.words = v.words;
    for (const w of v.words) if (!state.wordIndex.has(w.word.toLowerCase())) state.wordIndex.set(w.word.toLowerCase(), w);
    $("limits").textContent = `WAV, FLAC, OGG, MP3, AIFF · up to ${(state.info.max_upload_bytes / 1048576).toFixed(0)} MB and ${(state.info.max_duration_s / 60).toFixed(0)} min · ${state.words.length} words (English and Spanish surveys), or a phrase`;
    for (const r of document.querySelectorAll('input[name="mode"]')) {
      r.disabled = !state.info.modes.includes(r.value);
      r.parentElement.title = state.info.mode_help[r.value] || "";
    }
    modeHelp();
    buildPresetLinks(state.info.export_formats || []);
    $("status").textContent = `semeq ${state.info.semeq} · ready`;
    document.body.dataset.ready = "1";
  } catch (e) { showError(`cannot reach the semeq server: ${e.message}`); }
  wordMeta(); understandNow(); drawEQ(null);
}
window.addEventListener("DOMContentLoaded", () => {
  const drop = $("drop");
  $("choose").onclick = () => $("file").click();
  $("file").onchange = () => { if ($("file").files[0]) uploadFile($("file").files[0]); };
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) uploadFile(e.dataTransfer.files[0]); });
  typeahead($("word"), $("word-list"), wordChanged);
  $("word").addEventListener("input", () => { wordMeta(); understandNow(); });
  typeahead($("blend"), $("blend-list"), () => { $("alpha").disabled = !$("blend").value.trim(); wordChanged(); });
  $("intensity").addEventListener("input", () => {
    state.sliderFor = $("word").value.trim();
    $("intensity-out").textContent = parseFloat($("intensity").value).toFixed(2); update();
  });
  $("auto").addEventListener("change", () => { $("intensity").disabled = $("auto").checked; update(); });
  $("alpha").addEventListener("input", () => { $("alpha-out").textContent = parseFloat($("alpha").value).toFixed(2); update(); });
  for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", () => { modeHelp(); update(); });
  $("dynamic").addEventListener("change", update);
  $("play").onclick = togglePlay;
  $("btn-a").onclick = () => selectAB("A"); $("btn-b").onclick = () => selectAB("B");
  $("start").onchange = () => setRegion(parseFloat($("start").value), parseFloat($("end").value), true);
  $("end").onchange = () => setRegion(parseFloat($("start").value), parseFloat($("end").value), true);
  const wave = $("wave"); let dragFrom = null;
  const tAt = (e) => { const r = wave.getBoundingClientRect(); return ((e.clientX - r.left) / r.width) * state.original.duration; };
  wave.addEventListener("mousedown", (e) => { if (state.original) dragFrom = tAt(e); });
  window.addEventListener("mouseup", (e) => {
    if (dragFrom === null) return;
    const t = tAt(e), a = Math.min(dragFrom, t), b = Math.max(dragFrom, t); dragFrom = null;
    if (b - a >= 0.5) setRegion(a, b); else if (player) { player.play(Math.min(Math.max(a, state.region[0]), state.region[1] - 0.01)); $("play").textContent = "❚❚ Pause"; }
  });
  $("abx-begin").onclick = abxStart;
  $("abx-play").onclick = () => { if (!abxPlayer) return; audioContext(); if (abxPlayer.playing) { abxPlayer.stop(); $("abx-play").textContent = "▶ Play"; } else { abxPlayer.play(); $("abx-play").textContent = "❚❚ Pause"; } };
  for (const k of ["a", "b", "x"]) $(`abx-${k}`).onclick = () => abxPlayer && abxSelect(k.toUpperCase());
  $("abx-again").onclick = abxStart;
  $("abx-back").onclick = () => showView("studio");
  $("ans-a").onclick = () => abxAnswer("A"); $("ans-b").onclick = () => abxAnswer("B");
  for (const t of document.querySelectorAll(".tab")) t.onclick = () => showView(t.dataset.view);
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input[type=text], input[type=number]") || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (!$("view-abx").hidden && abx.session) {
      if (k === "a" || k === "b" || k === "x") abxSelect(k.toUpperCase());
      else if (k === "1") abxAnswer("A"); else if (k === "2") abxAnswer("B");
      else if (k === " ") { $("abx-play").click(); } else return;
      e.preventDefault(); return;
    }
    if (!$("view-studio").hidden) {
      if (k === " ") togglePlay(); else if (k === "t") selectAB(document.body.dataset.ab === "A" ? "B" : "A");
      else if (k === "a") selectAB("A"); else if (k === "b") selectAB("B"); else return;
      e.preventDefault();
    }
  });
  window.semeq = { state, get player() { return player; }, get abxPlayer() { return abxPlayer; }, abx };
  init(); requestAnimationFrame(tick);
});
