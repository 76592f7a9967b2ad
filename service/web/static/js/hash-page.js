// The hashing page: choose photos and videos, fingerprint them in a worker, show exactly
// what will be sent, ask for consent, send the hashes (never a picture, never a file
// name), then show the case number and PIN.
//
// Everything the page needs is loaded when it opens (the worker and its modules, the
// hash-group strategy, all languages), so it keeps working if the network drops, up to
// the moment of sending; a failed send says so and can be retried.

import { setUpLanguage, t, onLanguageChange } from "./i18n.js";
import { videoFrames } from "./video-frames.js";

const $ = (id) => document.getElementById(id);

const items = []; // {id, file, kind, status: waiting|working|ready|failed, code, hashes, vpdq, url, fraction, el}
let nextId = 1;
let strategyReady = false;
let limits = null; // the service's video limits (/v1/limits)
// Videos are sampled one at a time (one <video> element, one frame in hand).
let videoTurn = Promise.resolve();
const framesWaiting = new Map(); // "id:seq" -> {resolve, reject}: frames the worker is hashing
let frameSeq = 0;
let sending = false;
let submitted = false;

const worker = new Worker("/static/js/hash-worker.js", { type: "module" });
worker.onmessage = (event) => onWorkerMessage(event.data);
// A browser without module workers, or a worker that failed to load: say so, plainly.
worker.onerror = () => {
  showError($("submit-error"), t("errorStrategy"));
  $("step-send").hidden = false;
};

setUpLanguage();
onLanguageChange(() => {
  if (submitted) renderWhere();
  items.forEach(renderItemText);
  renderProgress();
  renderReview();
});
loadStrategy();

async function loadStrategy() {
  try {
    const [response, limitsResponse] = await Promise.all([
      fetch("/v1/strategy", { credentials: "omit", cache: "no-cache" }),
      fetch("/v1/limits", { credentials: "omit", cache: "no-cache" }),
    ]);
    if (!response.ok || !limitsResponse.ok) throw new Error(String(response.status));
    worker.postMessage({ type: "strategy", strategy: await response.json() });
    limits = await limitsResponse.json();
    strategyReady = true;
    items.filter((item) => item.status === "waiting").forEach(startHashing);
  } catch {
    showError($("submit-error"), t("errorStrategy"));
    $("step-send").hidden = false;
  }
}

// --- choosing files ----------------------------------------------------------------

$("files").addEventListener("change", (event) => {
  addFiles(event.target.files);
  event.target.value = ""; // the same file can be chosen again after removing it
});

const drop = $("drop");
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("dragging");
  });
}
for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("dragging"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  addFiles(event.dataTransfer.files);
});
// Dropping a picture anywhere else must not make the browser open (navigate to) it.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

function addFiles(fileList) {
  if (submitted) return;
  for (const file of fileList) {
    const isVideo = file.type.startsWith("video/");
    if (!isVideo && file.type && !file.type.startsWith("image/")) continue;
    const item = { id: nextId++, file, kind: isVideo ? "video" : "image", status: "waiting", fraction: 0 };
    items.push(item);
    renderItem(item);
    if (strategyReady) startHashing(item);
  }
  renderProgress();
  renderReview();
}

function startHashing(item) {
  item.status = "working";
  if (item.kind === "video") {
    startVideo(item);
  } else {
    worker.postMessage({ type: "hash", id: item.id, file: item.file, kind: item.kind });
  }
  renderItemText(item);
}

// A video: its MD5 in the worker (as any file) and its vPDQ frames from a <video> element
// here, each frame hashed in the worker; sent as one item {kind: "video", hashes: [md5], vpdq}.
function startVideo(item) {
  item.abort = new AbortController();
  item.md5 = null;
  item.frames = { done: 0, total: 0 };
  worker.postMessage({ type: "hash", id: item.id, file: item.file, kind: "file" });
  const turn = videoTurn.then(() => sampleVideo(item));
  videoTurn = turn.catch(() => {});
}

async function sampleVideo(item) {
  if (item.abort.signal.aborted) return;
  const hashFrame = (part, transfer) =>
    new Promise((resolve, reject) => {
      const seq = ++frameSeq;
      framesWaiting.set(`${item.id}:${seq}`, { resolve, reject });
      worker.postMessage({ type: "frame", id: item.id, seq, ...part }, transfer);
    });
  try {
    const result = await videoFrames(item.file, {
      limits,
      hashFrame,
      signal: item.abort.signal,
      onProgress: (done, total) => {
        item.frames = { done, total };
        renderVideoProgress(item);
      },
    });
    item.vpdq = result.vpdq;
    item.structures = result.structures;
    item.misaligned = result.misaligned;
    // Seeks that showed another frame than planned (0 in Chromium) and how frames became RGB:
    // for the tests, never sent.
    if (item.el) {
      item.el.li.dataset.misaligned = String(result.misaligned);
      item.el.li.dataset.conversions = result.conversions.join(",");
    }
  } catch (error) {
    if (error.code === "cancelled") return;
    if (error.code === "unsupported") {
      item.framesUnsupported = true; // this browser cannot read the frames: the file's MD5 only
    } else {
      return videoFailed(item, error.code === "too_long" || error.code === "too_large" ? error.code : "undecodable");
    }
  }
  item.framesDone = true;
  finishVideo(item);
}

function renderVideoProgress(item) {
  const { done, total } = item.frames;
  item.fraction = total ? 0.05 + (0.95 * done) / total : 0.05;
  renderItemText(item);
  renderProgress();
}

function videoFailed(item, code) {
  if (!items.includes(item)) return;
  item.status = "failed";
  item.code = code;
  item.fraction = 1;
  item.abort?.abort();
  renderItemText(item);
  renderProgress();
  renderReview();
}

function finishVideo(item) {
  if (!items.includes(item) || item.status !== "working" || !item.md5 || !item.framesDone) return;
  item.status = "ready";
  item.fraction = 1;
  item.hashes = [{ signal: "md5", hash: item.md5 }];
  if (item.framesUnsupported) item.kind = "file"; // no frames: sent as an exact file digest
  renderItemText(item);
  renderProgress();
  renderReview();
}

function onWorkerMessage(message) {
  if (message.type === "frame-hash" || message.type === "frame-failed") {
    const key = `${message.id}:${message.seq}`;
    const waiting = framesWaiting.get(key);
    framesWaiting.delete(key);
    if (message.type === "frame-hash") waiting?.resolve(message);
    else waiting?.reject(Object.assign(new Error("frame"), { code: "undecodable" }));
    return;
  }
  const item = items.find((i) => i.id === message.id);
  if (!item) return; // removed meanwhile
  if (item.abort) {
    // The video's MD5, from the worker.
    if (message.type === "done") {
      item.md5 = message.hashes[0].hash;
      finishVideo(item);
    } else if (message.type === "failed") {
      videoFailed(item, "undecodable");
    }
    return;
  }
  if (message.type === "progress") {
    item.fraction = message.fraction;
  } else if (message.type === "done") {
    item.status = "ready";
    item.hashes = message.hashes;
    item.fraction = 1;
  } else if (message.type === "failed") {
    item.status = "failed";
    item.code = message.code;
    item.fraction = 1;
  }
  renderItemText(item);
  renderProgress();
  if (message.type !== "progress") renderReview();
}

// --- the list of chosen items ----------------------------------------------------------

function renderItem(item) {
  const li = document.createElement("li");
  li.className = "item";
  const n = items.indexOf(item) + 1;
  if (item.kind === "image") {
    item.url = URL.createObjectURL(item.file);
    const img = document.createElement("img");
    img.src = item.url;
    img.className = "thumb";
    img.decoding = "async";
    img.loading = "lazy";
    li.append(img);
  } else {
    const tile = document.createElement("span");
    tile.className = "thumb video-tile";
    tile.setAttribute("aria-hidden", "true");
    tile.textContent = "\u25B6";
    li.append(tile);
  }
  const text = document.createElement("div");
  text.className = "item-text";
  const name = document.createElement("span");
  name.className = "item-name";
  const state = document.createElement("span");
  state.className = "item-state";
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.className = "item-bar";
  bar.setAttribute("aria-hidden", "true");
  text.append(name, state, bar);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button small remove";
  remove.addEventListener("click", () => removeItem(item));
  li.append(text, remove);
  item.el = { li, name, state, bar, remove, img: li.querySelector("img") };
  item.number = n;
  $("items").append(li);
  renderItemText(item);
}

function renderItemText(item) {
  if (!item.el) return;
  const n = items.indexOf(item) + 1;
  item.el.name.textContent = item.kind === "image" ? t("itemName", { n }) : `${t("itemName", { n })} \u00b7 ${t("videoLabel")}`;
  if (item.el.img) item.el.img.alt = t("photoAlt", { n });
  const failures = {
    too_plain: t("itemTooPlain"),
    too_long: t("itemTooLong", { minutes: Math.floor((limits?.max_video_seconds ?? 1800) / 60) }),
    too_large: t("itemTooLarge"),
  };
  const working = item.kind === "video" && item.frames?.total
    ? t("itemFrames", { done: item.frames.done, total: item.frames.total })
    : t("itemWorking");
  const states = {
    waiting: t("itemWaiting"),
    working,
    ready: item.kind === "video" ? t("itemReadyFrames") : item.kind === "file" ? t("itemReadyVideo") : t("itemReady"),
    failed: failures[item.code] || (item.kind === "image" ? t("itemFailed") : t("itemVideoFailed")),
  };
  item.el.state.textContent = states[item.status];
  item.el.li.dataset.status = item.status;
  item.el.bar.value = item.fraction;
  item.el.bar.hidden = item.status === "ready" || item.status === "failed";
  // A video being sampled can be stopped: the same button, which then says so.
  const stoppable = item.kind === "video" && item.status === "working";
  item.el.remove.textContent = stoppable ? t("stop") : t("remove");
  item.el.remove.setAttribute("aria-label", stoppable ? t("stopLabel", { n }) : t("removeLabel", { n }));
}

function removeItem(item) {
  const at = items.indexOf(item);
  if (at < 0 || sending) return;
  items.splice(at, 1);
  item.abort?.abort(); // a video being sampled stops at its next frame
  if (item.url) URL.revokeObjectURL(item.url);
  const focusNext = item.el.li.nextElementSibling || item.el.li.previousElementSibling;
  item.el.li.remove();
  items.forEach(renderItemText);
  (focusNext?.querySelector("button.remove") || $("files")).focus();
  renderProgress();
  renderReview();
}

function renderProgress() {
  const total = items.length;
  const done = items.filter((i) => i.status === "ready" || i.status === "failed").length;
  $("progress-box").hidden = total === 0 || done === total;
  const partial = items.reduce((sum, i) => sum + (i.status === "working" ? i.fraction : 0), 0);
  $("progress").value = total ? (done + partial) / total : 0;
  const line = total === 0 ? "" : done === total ? t("progressDone", { total }) : t("progress", { done, total });
  // Written only when it changes, so a screen reader hears each step once, not each percent.
  if ($("progress-text").textContent !== line) $("progress-text").textContent = line;
}

// --- what will be sent ---------------------------------------------------------------

function payload() {
  // Exactly what is sent: kinds and hashes. No label, no file name, no size, no date.
  return {
    items: items
      .filter((i) => i.status === "ready")
      .map((i) => (i.kind === "video" ? { kind: i.kind, hashes: i.hashes, vpdq: i.vpdq } : { kind: i.kind, hashes: i.hashes })),
  };
}

function renderReview() {
  const ready = items.filter((i) => i.status === "ready");
  $("step-review").hidden = submitted || ready.length === 0;
  $("step-send").hidden = submitted || (ready.length === 0 && $("submit-error").hidden);
  const lines = [];
  let count = 0;
  for (const item of ready) {
    const n = items.indexOf(item) + 1;
    if (item.kind === "image") lines.push(t("sentPhoto", { n, count: item.hashes.length }));
    else if (item.kind === "video") lines.push(t("sentVideoFrames", { n, count: item.vpdq.frames.length }));
    else lines.push(t("sentVideo", { n }));
    for (const h of item.hashes) {
      // Every field of the hash as sent: PDQ hashes carry their variant, quality and structure.
      const details = h.quality !== undefined ? ` (${h.variant}, q${h.quality}${h.structure !== undefined ? `, s${h.structure}` : ""})` : "";
      lines.push(`  ${h.signal} ${h.hash}${details}`);
      count++;
    }
    // A video's frames as sent: the PDQ hash, its time in the video and its quality.
    for (const f of item.kind === "video" ? item.vpdq.frames : []) {
      lines.push(`  vpdq ${f.pdq} (${f.time} s, frame ${f.frame}, q${f.quality})`);
      count++;
    }
  }
  $("sent-list").textContent = lines.join("\n");
  $("hash-count").textContent = String(count);
  updateSubmit();
}

const consent = $("consent");
consent.addEventListener("change", updateSubmit);

function updateSubmit() {
  const pending = items.some((i) => i.status === "waiting" || i.status === "working");
  const ready = items.some((i) => i.status === "ready");
  $("submit").disabled = sending || submitted || pending || !ready || !consent.checked;
}

// --- sending ---------------------------------------------------------------------------

$("submit").addEventListener("click", submit);

async function submit() {
  if ($("submit").disabled) return;
  sending = true;
  updateSubmit();
  const errorBox = $("submit-error");
  errorBox.hidden = true;
  $("submit").textContent = t("sending");
  let response;
  try {
    response = await fetch("/v1/cases", {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload()),
    });
  } catch {
    return failSend(t("errorNetwork"));
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* an answer without JSON: a proxy's error page */
  }
  if (response.status === 201 && body) return showResult(body);
  if (body?.error?.code === "case_nothing_usable") return failSend(t("errorNothing"));
  if (body?.error?.code === "case_too_many_items") return failSend(t("errorTooMany"));
  return failSend(t("errorServer"));
}

function failSend(message) {
  sending = false;
  $("submit").textContent = t("submit");
  showError($("submit-error"), message);
  updateSubmit();
}

function showError(box, message) {
  box.textContent = message;
  box.hidden = false;
}

// --- the result ------------------------------------------------------------------------

let caseNumber = "";
let casePin = "";

function showResult(body) {
  submitted = true;
  sending = false;
  caseNumber = body.case_number;
  casePin = body.pin;
  $("case-number").textContent = caseNumber;
  $("case-pin").textContent = casePin;
  renderWhere();
  const refused = (body.items || []).filter((i) => i.status === "refused").length;
  $("refused").hidden = refused === 0;
  $("refused").textContent = refused ? t("refused", { count: refused }) : "";
  // The pictures are no longer needed on screen: someone may be looking over a shoulder.
  for (const item of items) if (item.url) URL.revokeObjectURL(item.url);
  items.length = 0;
  $("items").replaceChildren();
  $("step-choose").hidden = true;
  $("step-review").hidden = true;
  $("step-send").hidden = true;
  $("result").hidden = false;
  $("result").focus();
  // The PIN is shown once: until it has been copied, saved or printed, leaving the page asks first.
  window.addEventListener("beforeunload", warnBeforeLeaving);
}

function warnBeforeLeaving(event) {
  event.preventDefault();
  event.returnValue = "";
}

function pinKept() {
  window.removeEventListener("beforeunload", warnBeforeLeaving);
}

function renderWhere() {
  $("where").textContent = `${t("fileWhere")} ${location.origin}/status`;
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    $("copy-status").textContent = t("copied");
  } catch {
    $("copy-status").textContent = t("copyFailed");
  }
}
$("copy-case").addEventListener("click", () => copy(caseNumber));
$("copy-pin").addEventListener("click", () => copy(casePin).then(pinKept));

$("download").addEventListener("click", () => {
  const text = [
    t("fileTitle"),
    "",
    `${t("caseNumber")}: ${caseNumber}`,
    `${t("pin")}: ${casePin}`,
    "",
    t("fileText"),
    `${t("fileWhere")} ${location.origin}/status`,
    "",
  ].join("\r\n");
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `case-${caseNumber}.txt`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  pinKept();
});

$("print").addEventListener("click", () => {
  window.print();
  pinKept();
});
