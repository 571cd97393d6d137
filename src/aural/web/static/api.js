// The server's Phonexia task API, with the API key of this tab (sessionStorage only).

export const TASKS_PATH = "/api/technology/speech-to-text-whisper-enhanced";
const KEY_ITEM = "aural.apiKey";

/** An error answered by the server, in its one error schema, or a network failure. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

/** The most specific message of an error body: the first detail's, else the top one. */
export function errorMessage(body, fallback) {
  const detail = body && Array.isArray(body.detail) && body.detail[0];
  return (detail && detail.message) || (body && body.message) || fallback;
}

async function call(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = getKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    throw new ApiError(0, "network", `The server cannot be reached (${error.message}).`);
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: keep the status text
    }
    const type = (body && body.detail && body.detail[0] && body.detail[0].type) || (body && body.type) || "error";
    throw new ApiError(response.status, type, errorMessage(body, `${response.status} ${response.statusText}`));
  }
  return response;
}

/** Submit one file as a task; answers the task ({task_id, state}). */
export async function submitTask(file, params) {
  const form = new FormData();
  form.append("file", file, file.name || "recording.webm");
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const response = await call(`${TASKS_PATH}?${query}`, { method: "POST", body: form });
  return (await response.json()).task;
}

/** The task and, once final, its result or error. */
export async function getTask(taskId) {
  const response = await call(`${TASKS_PATH}/${encodeURIComponent(taskId)}`);
  return response.json();
}

/** A page of this key's tasks, newest first. */
export async function listTasks(offset = 0, limit = 20) {
  const response = await call(`${TASKS_PATH}?offset=${offset}&limit=${limit}`);
  return response.json();
}

/** A finished task rendered by the server in one of the core's formats, as a Blob. */
export async function exportTask(taskId, format) {
  const response = await call(`${TASKS_PATH}/${encodeURIComponent(taskId)}/export?format=${encodeURIComponent(format)}`);
  return response.blob();
}
