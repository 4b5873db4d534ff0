// voicestyle serve: the page's behaviour, on the JSON API only (README "Web page"). No upstream counterpart.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { voice: null, voiceName: "", example: "", jobs: {} };

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.classList.toggle("hidden", !message);
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  const type = response.headers.get("content-type") || "";
  const body = type.startsWith("application/json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function formatSeconds(s) {
  if (s === undefined || s === null || !isFinite(s)) return "";
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function describe(status) {
  if (status.state === "queued") return `queued, position ${status.position}`;
  if (status.state === "running") {
    const step = status.total ? ` ${status.step}/${status.total}` : "";
    const eta = status.eta_seconds ? ` · ETA ${formatSeconds(status.eta_seconds)}` : "";
    return `${status.stage || "starting"}${step} ${status.detail || ""}${eta}`;
  }
  if (status.state === "done") return `done in ${formatSeconds(status.elapsed_seconds)}`;
  return `${status.state}${status.error ? ": " + status.error : ""}`;
}

// --- Tabs -------------------------------------------------------------------------------------------------
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
    for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.id !== "panel-" + tab.dataset.tab);
  });
}

// --- Jobs: submit, follow the event stream, report ----------------------------------------------------------
function runJob(kind, form, view) {
  showError("");
  view.start();
  return api(`/api/${kind}`, { method: "POST", body: form }).then((submitted) => {
    const id = submitted.job;
    state.jobs[kind] = id;
    const events = new EventSource(`/api/jobs/${id}/events`);
    const onStatus = (e) => {
      const status = JSON.parse(e.data);
      view.status(status);
      if (status.state === "done" || status.state === "failed" || status.state === "cancelled") {
        events.close();
        delete state.jobs[kind];
        if (status.state === "done") view.done(id, status);
        else if (status.state === "failed") { showError(`${kind} failed: ${status.error}`); view.end(); }
        else view.end();
      }
    };
    events.addEventListener("status", onStatus);
    events.addEventListener("progress", (e) => view.status(JSON.parse(e.data)));
    events.addEventListener("preview", (e) => view.preview && view.preview(id, JSON.parse(e.data)));
    return id;
  }).catch((error) => { showError(error.message); view.end(); });
}

function cancelJob(kind) {
  const id = state.jobs[kind];
  if (id) api(`/api/jobs/${id}`, { method: "DELETE" }).catch((error) => showError(error.message));
}

function downloads(box, id, names) {
  box.replaceChildren();
  for (const name of names) {
    const a = document.createElement("a");
    a.href = `/api/jobs/${id}/${name}`;
    a.textContent = name;
    a.setAttribute("download", name);
    box.append(a);
  }
}

function image(src, alt) {
  const img = document.createElement("img");
  img.alt = alt;
  img.addEventListener("error", () => window.__errors.push(`image failed to load: ${src}`));
  img.src = src;
  return img;
}

function gallery(box, id, items, withWeight) {
  box.replaceChildren();
  for (const item of items) {
    const figure = document.createElement("figure");
    figure.className = "prototype";
    if (item.image) figure.append(image(`/api/jobs/${id}/${item.image}`, item.identity));
    if (item.inversion) figure.append(image(`/api/jobs/${id}/${item.inversion}`, `${item.identity}, inverted`));
    const caption = document.createElement("figcaption");
    const weight = withWeight && item.weight !== undefined && item.weight !== null ? ` · w ${item.weight.toFixed(2)}` : "";
    const inverted = item.inversion ? " (photo, then its inversion)" : "";
    caption.textContent = `#${item.rank} ${item.identity} · cos ${item.cosine.toFixed(3)}${weight}${inverted}`;
    figure.append(caption);
    box.append(figure);
  }
}

// --- The CMPC distance curve ----------------------------------------------------------------------------------
const curve = { values: [] };
function drawCurve() {
  const canvas = $("curve"), g = canvas.getContext("2d"), v = curve.values;
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = "#ccc";
  g.strokeRect(0.5, 0.5, canvas.width - 1, canvas.height - 1);
  if (v.length < 2) return;
  const lo = Math.min(...v), hi = Math.max(...v), span = hi - lo || 1, pad = 12;
  g.strokeStyle = "#2c6bd6";
  g.lineWidth = 2;
  g.beginPath();
  v.forEach((y, i) => {
    const px = pad + (i / (v.length - 1)) * (canvas.width - 2 * pad);
    const py = pad + (1 - (y - lo) / span) * (canvas.height - 2 * pad);
    if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);
  });
  g.stroke();
  g.fillStyle = "#444";
  g.font = "11px sans-serif";
  g.fillText(hi.toFixed(3), 4, 11);
  g.fillText(lo.toFixed(3), 4, canvas.height - 3);
}

// --- Voice → face -------------------------------------------------------------------------------------------
function chooseVoice(blob, name, example) {
  state.voice = blob;
  state.voiceName = name;
  state.example = example || "";
  $("voice-chosen").textContent = `voice: ${name}`;
  const audio = $("voice-audio");
  audio.src = example ? `/api/examples/${encodeURIComponent(example)}` : URL.createObjectURL(blob);
  audio.classList.remove("hidden");
}

$("voice-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) chooseVoice(file, file.name, "");
});

// Recording: MediaRecorder, decoded by the browser and sent as 16-bit PCM WAV (the server reads WAV, not WebM).
let recorder = null;
$("record").addEventListener("click", async () => {
  if (recorder) { recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (e) => chunks.push(e.data));
    recorder.addEventListener("stop", async () => {
      stream.getTracks().forEach((t) => t.stop());
      recorder = null;
      $("record").textContent = "● Record";
      $("record-state").textContent = "microphone";
      try {
        const recorded = new Blob(chunks, { type: chunks[0] ? chunks[0].type : "audio/webm" });
        const context = new AudioContext();
        const audio = await context.decodeAudioData(await recorded.arrayBuffer());
        chooseVoice(wav(audio), "recording.wav", "");
      } catch (error) { showError(`the recording could not be decoded: ${error.message}`); }
    });
    recorder.start();
    $("record").textContent = "■ Stop";
    $("record-state").textContent = "recording…";
  } catch (error) { showError(`no microphone: ${error.message}`); }
});

function wav(audio) {
  const n = audio.length, rate = audio.sampleRate, mono = new Float32Array(n);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const data = audio.getChannelData(c);
    for (let i = 0; i < n; i++) mono[i] += data[i] / audio.numberOfChannels;
  }
  const buffer = new ArrayBuffer(44 + 2 * n), view = new DataView(buffer);
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) view.setInt16(44 + 2 * i, Math.max(-1, Math.min(1, mono[i])) * 32767, true);
  return new Blob([buffer], { type: "audio/wav" });
}

const inferView = {
  start() {
    curve.values = [];
    drawCurve();
    $("infer-start").disabled = true;
    $("infer-cancel").classList.remove("hidden");
    $("infer-status").textContent = "submitting…";
    $("infer-progress").value = 0;
    $("face").classList.add("hidden");
    $("face-caption").textContent = "appears here, growing every few steps";
    $("infer-downloads").replaceChildren();
  },
  status(s) {
    $("infer-status").textContent = describe(s);
    $("infer-progress").value = s.progress || 0;
    if (s.stage === "refinement" && s.detail && s.detail.startsWith("cmpc ") && s.step > curve.values.length) {
      curve.values.push(parseFloat(s.detail.slice(5)));
      drawCurve();
    }
  },
  preview(id, s) {
    const face = $("face");
    face.src = `/api/jobs/${id}/${s.preview}`;
    face.classList.remove("hidden");
    $("face-caption").textContent = `after ${s.preview_step} of ${s.total || "?"} refinement steps`;
  },
  done(id, s) {
    const r = s.result;
    const face = $("face");
    face.src = `/api/jobs/${id}/face.png`;
    face.classList.remove("hidden");
    const last = r.curve && r.curve.length ? ` · CMPC distance ${r.curve[0].toFixed(3)} → ${r.curve[r.curve.length - 1].toFixed(3)}` : "";
    $("face-caption").textContent = `refined face${last}`;
    if (r.curve) { curve.values = r.curve; drawCurve(); }
    gallery($("gallery"), id, r.gallery || [], true);
    downloads($("infer-downloads"), id, ["face.png", "sheet.png", "latent.npy", "report.json"].filter((n) => r.outputs.includes(n)));
    if (r.notice) { $("notice").textContent = r.notice; $("notice").classList.remove("hidden"); }
    this.end();
  },
  end() {
    $("infer-start").disabled = false;
    $("infer-cancel").classList.add("hidden");
  },
};

$("infer-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!state.voice && !state.example) { showError("choose a voice first: record, upload a clip or pick an example"); return; }
  const form = new FormData($("infer-form"));
  if (state.example) form.append("example", state.example);
  else form.append("voice", state.voice, state.voiceName);
  runJob("infer", form, inferView);
});
$("infer-cancel").addEventListener("click", () => cancelJob("infer"));

// --- Photo → latent -----------------------------------------------------------------------------------------
const invertView = {
  start() {
    $("invert-start").disabled = true;
    $("invert-cancel").classList.remove("hidden");
    $("invert-status").textContent = "submitting…";
    $("compare").classList.add("hidden");
    $("invert-metrics").textContent = "";
    $("invert-downloads").replaceChildren();
  },
  status(s) {
    $("invert-status").textContent = describe(s);
    $("invert-progress").value = s.progress || 0;
  },
  done(id, s) {
    const r = s.result, compare = r.outputs.find((n) => n.endsWith("_compare.png"));
    if (compare) { $("compare").src = `/api/jobs/${id}/${compare}`; $("compare").classList.remove("hidden"); }
    const m = r.reconstruction;
    $("invert-metrics").textContent = m ? `PSNR ${m.psnr_db.toFixed(1)} dB` + (m.lpips != null ? ` · LPIPS ${m.lpips.toFixed(3)}` : "") : (r.skipped || []).join("; ");
    downloads($("invert-downloads"), id, r.outputs);
    this.end();
  },
  end() {
    $("invert-start").disabled = false;
    $("invert-cancel").classList.add("hidden");
  },
};

$("invert-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const file = $("photo-file").files[0];
  if (!file) { showError("choose a face photo first"); return; }
  const form = new FormData($("invert-form"));
  if (!$("invert-align").checked) form.set("align", "false");
  form.append("photo", file, file.name);
  runJob("invert", form, invertView);
});
$("invert-cancel").addEventListener("click", () => cancelJob("invert"));

// --- Search -------------------------------------------------------------------------------------------------
const searchView = {
  start() { $("search-start").disabled = true; $("search-status").textContent = "submitting…"; },
  status(s) { $("search-status").textContent = describe(s); },
  done(id, s) {
    gallery($("search-gallery"), id, s.result.gallery || [], false);
    this.end();
  },
  end() { $("search-start").disabled = false; },
};

$("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = new FormData($("search-form"));
  const face = $("search-face").files[0], voice = $("search-voice").files[0], example = $("search-example").value;
  if (face) form.append("face", face, face.name);
  else if (voice) form.append("voice", voice, voice.name);
  else if (example) form.append("example", example);
  else { showError("choose a face photo, a voice clip or an example voice first"); return; }
  runJob("search", form, searchView);
});

// --- Start: what the server offers --------------------------------------------------------------------------
api("/api/health").then((h) => {
  $("version").textContent = h.version;
  for (const select of [$("infer-index"), $("search-index")]) {
    for (const name of h.indexes) select.append(new Option(name, name));
  }
  if (!h.demo) { $("infer-k").value = 8; $("infer-steps").value = 100; }
  if (!h.align) { $("invert-align").checked = false; $("invert-align").disabled = true; }
  for (const name of h.examples) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "example";
    button.textContent = name.replace(/\.[a-z0-9]+$/, "");
    button.addEventListener("click", () => chooseVoice(null, name, name));
    $("examples").append(button);
    $("search-example").append(new Option(name, name));
  }
  document.body.dataset.ready = "true";
}).catch((error) => showError(`the server did not answer: ${error.message}`));
drawCurve();
