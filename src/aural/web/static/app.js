// The page: send files (or a recording) as tasks, follow them, list this key's tasks, open one.

import { ApiError, getKey, getTask, listTasks, setKey, submitTask } from "./api.js";
import { duration, el } from "./util.js";
import { Viewer } from "./viewer.js";

const FINAL = new Set(["done", "failed", "rejected"]);
const NAMES_ITEM = "aural.taskNames"; // task id -> file name, so listed tasks have names
const MAX_NAMES = 200;
const $ = (id) => document.getElementById(id);

const files = new Map(); // task id -> the user's File, for playback (never uploaded again)
const viewer = new Viewer($("viewer"), { onError: notify });
let nextOffset = 0;

function notify(message) {
  $("notice-text").textContent = message;
  $("notice").hidden = !message;
}

function names() {
  try {
    return JSON.parse(localStorage.getItem(NAMES_ITEM) || "{}");
  } catch {
    return {};
  }
}

function remember(taskId, name) {
  const all = names();
  all[taskId] = name;
  const ids = Object.keys(all);
  for (const id of ids.slice(0, Math.max(0, ids.length - MAX_NAMES))) delete all[id];
  localStorage.setItem(NAMES_ITEM, JSON.stringify(all));
}

// --- keys ---

let keyWaiters = [];

/** Ask for a key (the dialog), showing `message`; resolves once one is entered. */
function askForKey(message) {
  const dialog = $("key-dialog");
  $("key-error").textContent = message || "";
  $("key-error").hidden = !message;
  if (!dialog.open) dialog.showModal();
  $("key-input").focus();
  return new Promise((resolve) => keyWaiters.push(resolve));
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setKey($("key-input").value.trim());
  $("key-input").value = "";
  $("key-dialog").close();
  $("forget-key").hidden = false;
  const waiters = keyWaiters;
  keyWaiters = [];
  for (const resolve of waiters) resolve();
});

$("forget-key").addEventListener("click", () => {
  setKey(null);
  $("forget-key").hidden = true;
  refreshTasks(true);
});

/** `action()`, asking for a key again while the server answers 401. */
async function withKey(action) {
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      const hadKey = getKey() !== null;
      setKey(null);
      await askForKey(hadKey ? `That key was refused: ${error.message}` : "");
    }
  }
}

// --- sending files ---

function params() {
  return {
    language: $("language").value.trim() || "auto",
    language_switching: $("switching").checked,
    channel_mode: $("channel-mode").value,
    channels: $("channel-mode").value === "split" ? $("channels").value.trim() : "",
  };
}

function jobCard(name) {
  const state = el("span", { class: "state", "data-state": "uploading", text: "uploading" });
  const bar = el("progress", { max: "1", "aria-label": `Progress of ${name}` });
  const message = el("p", { class: "job-error", role: "alert", hidden: true });
  const open = el("button", { type: "button", class: "secondary", hidden: true, text: "Open" });
  const card = el(
    "li",
    { class: "job" },
    el("div", { class: "job-line" }, el("span", { class: "job-name", title: name, text: name }), state),
    bar,
    message,
    open,
  );
  $("jobs").prepend(card);
  $("queue").hidden = false;
  return { card, state, bar, message, open };
}

function show(job, taskState, progress) {
  job.state.textContent = taskState === "running" && progress != null ? `running ${Math.round(progress * 100)}%` : taskState;
  job.state.dataset.state = taskState;
  if (taskState === "running" && progress != null) job.bar.value = progress;
  else if (taskState === "done") job.bar.value = 1;
  else if (taskState === "pending" || taskState === "uploading") job.bar.removeAttribute("value");
  job.bar.hidden = FINAL.has(taskState) && taskState !== "done";
}

async function send(file) {
  const name = file.name || "recording.webm";
  const job = jobCard(name);
  const options = params();
  const showWords = $("word-timestamps").checked;
  let task;
  try {
    task = await withKey(() => submitTask(file, options));
  } catch (error) {
    show(job, "error");
    job.message.textContent = error.message;
    job.message.hidden = false;
    return;
  }
  job.card.dataset.taskId = task.task_id;
  files.set(task.task_id, file);
  remember(task.task_id, name);
  show(job, task.state);
  let delay = 500;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(2000, delay * 1.5);
    let body;
    try {
      body = await withKey(() => getTask(task.task_id));
    } catch (error) {
      job.message.textContent = error.message;
      job.message.hidden = false;
      if (error.status === 404) return;
      continue;
    }
    show(job, body.task.state, body.task.progress);
    if (!FINAL.has(body.task.state)) continue;
    if (body.error) {
      job.message.textContent = body.error.detail?.[0]?.message || body.error.message;
      job.message.hidden = false;
    }
    if (body.task.state === "done") {
      const opener = () => viewer.open({ taskId: task.task_id, name, result: body.result, file, words: showWords });
      job.open.hidden = false;
      job.open.addEventListener("click", opener);
      if (!viewer.current) opener();
    }
    refreshTasks(true);
    return;
  }
}

function sendAll(list) {
  for (const file of list) send(file);
}

$("file").addEventListener("change", (event) => {
  sendAll([...event.target.files]);
  event.target.value = "";
});

const drop = $("drop");
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  sendAll([...event.dataTransfer.files]);
});

$("channel-mode").addEventListener("change", () => {
  $("channels").disabled = $("channel-mode").value !== "split";
});

// --- recording ---

let recorder = null;

$("record").addEventListener("click", async () => {
  const button = $("record");
  if (recorder) {
    recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || typeof MediaRecorder === "undefined") {
    notify("This browser cannot record here (recording needs a secure context: https or localhost).");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    notify(`The microphone is not available: ${error.message}`);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
  recorder.addEventListener("stop", () => {
    for (const track of stream.getTracks()) track.stop();
    const type = recorder.mimeType || "audio/webm";
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    recorder = null;
    button.textContent = "Record";
    button.setAttribute("aria-pressed", "false");
    send(new File(chunks, `recording-${stamp}.${extension}`, { type }));
  });
  recorder.start();
  button.textContent = "Stop recording";
  button.setAttribute("aria-pressed", "true");
});

// --- tasks I sent ---

function taskRow(task) {
  const name = names()[task.task_id] || `Task ${task.task_id.slice(0, 8)}`;
  const when = new Date(task.created_at * 1000);
  const open = el(
    "button",
    {
      type: "button",
      class: "task-open",
      "data-task-id": task.task_id,
      disabled: task.state !== "done",
      title: task.expires_at ? `Kept until ${new Date(task.expires_at * 1000).toLocaleString()}` : null,
    },
    el("span", { class: "job-name", text: name }),
    el("span", { class: "task-meta", text: [when.toLocaleString(), duration(task.audio_duration_s)].filter(Boolean).join(" · ") }),
  );
  open.addEventListener("click", async () => {
    try {
      const body = await withKey(() => getTask(task.task_id));
      if (!body.result) throw new Error(body.error ? body.error.message : `The task is ${body.task.state}.`);
      await viewer.open({ taskId: task.task_id, name: names()[task.task_id], result: body.result, file: files.get(task.task_id), audioDuration: task.audio_duration_s });
      $("viewer").scrollIntoView({ block: "start" });
    } catch (error) {
      notify(`Cannot open the task: ${error.message}`);
    }
  });
  return el(
    "li",
    { class: "task" },
    open,
    el("span", { class: "state", "data-state": task.state, title: task.error ? task.error.message : "", text: task.state }),
  );
}

async function refreshTasks(reset) {
  if (reset) nextOffset = 0;
  try {
    const page = await withKey(() => listTasks(nextOffset, 20));
    const rows = page.tasks.map(taskRow);
    if (reset) $("tasks").replaceChildren(...rows);
    else $("tasks").append(...rows);
    $("tasks-empty").hidden = page.total > 0;
    nextOffset = page.next_offset ?? nextOffset;
    $("more-tasks").hidden = page.next_offset === null;
    $("forget-key").hidden = !getKey();
  } catch (error) {
    notify(`The task list failed: ${error.message}`);
  }
}

$("more-tasks").addEventListener("click", () => refreshTasks(false));
$("refresh-tasks").addEventListener("click", () => refreshTasks(true));
$("notice-close").addEventListener("click", () => notify(""));

refreshTasks(true);
