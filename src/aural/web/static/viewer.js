// Reading one transcript: lanes, text columns, playback of the user's own file with the current
// word highlighted, keyboard, search and export through the server.

import { exportTask } from "./api.js";
import { buildLanes, decodeForPeaks } from "./lanes.js";
import { TranscriptColumns } from "./transcript.js";
import { clock, duration, el, languageColours, languageName, lastAtOrBefore } from "./util.js";

const EXTENSIONS = { json: "json", verbose_json: "verbose.json", text: "txt", srt: "srt", vtt: "vtt", tsv: "tsv" };

/** Phonexia segments -> the page's model: segments and words numbered across the transcript. */
function model(result) {
  const raw = (result && result.one_best && result.one_best.segments) || [];
  const segments = [];
  const words = [];
  for (const s of raw) {
    const segment = {
      index: segments.length,
      channel: s.channel_number,
      start: s.start_time,
      end: s.end_time,
      language: s.language,
      text: s.text.trim(),
      words: [],
    };
    for (const w of s.words || []) {
      const word = { index: words.length, start: w.start_time, end: w.end_time, text: w.text, channel: segment.channel };
      words.push(word);
      segment.words.push(word);
    }
    segments.push(segment);
  }
  const byChannel = new Map();
  for (const s of segments) {
    if (!byChannel.has(s.channel)) byChannel.set(s.channel, []);
    byChannel.get(s.channel).push(s);
  }
  const channels = [...byChannel.keys()].sort((a, b) => a - b).map((channel) => ({ channel, segments: byChannel.get(channel) }));
  return { segments, words, channels };
}

export class Viewer {
  constructor(root, { onError }) {
    this.root = root;
    this.onError = onError;
    this.$ = (id) => root.querySelector(`#${id}`);
    this.audio = this.$("audio");
    this.current = null;
    this.lanes = null;
    this.columns = null;
    this.frame = 0;
    this.litWords = [];
    this.litSegments = [];
    this.$("play").addEventListener("click", () => this.toggle());
    this.$("export").addEventListener("click", () => this.download());
    this.$("search").addEventListener("input", () => this.search());
    this.$("search").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.nextHit(event.shiftKey ? -1 : 1);
      }
    });
    this.$("show-words").addEventListener("change", (event) => this.columns && this.columns.setWords(event.target.checked));
    this.$("attach").addEventListener("change", (event) => {
      const file = event.target.files[0];
      if (file && this.current) this.open({ ...this.current, file });
    });
    this.audio.addEventListener("play", () => this.playing(true));
    this.audio.addEventListener("pause", () => this.playing(false));
    this.audio.addEventListener("timeupdate", () => this.tick());
    this.audio.addEventListener("seeked", () => this.tick());
    document.addEventListener("keydown", (event) => this.key(event));
  }

  /** Show task `taskId`'s `result`; with `file` (the user's own media) it can be played. */
  async open({ taskId, name, result, file, words = true, audioDuration = null }) {
    this.close();
    const { segments, words: allWords, channels } = model(result);
    this.current = { taskId, name, result, file, words, audioDuration, segments, allWords, channels };
    const colours = languageColours(segments.map((s) => s.language));
    this.root.classList.remove("idle");
    this.$("viewer-title").textContent = name || `Task ${taskId.slice(0, 8)}`;
    this.$("show-words").checked = words;
    const languages = [...colours.keys()];
    this.$("legend").replaceChildren(
      ...languages.map((language) =>
        el(
          "li",
          { "data-language": language },
          el("span", { class: "dot", style: `background:${colours.get(language)}`, "aria-hidden": "true" }),
          `${languageName(language)} (${language})`,
        ),
      ),
    );
    const end = segments.reduce((max, s) => Math.max(max, s.end), 0);
    let buffer = null;
    if (file) {
      if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = URL.createObjectURL(file);
      this.audio.src = this.objectUrl;
      buffer = await decodeForPeaks(file);
      if (this.current.taskId !== taskId) return; // another transcript was opened meanwhile
    } else {
      this.audio.removeAttribute("src");
      this.audio.load();
    }
    const total = (buffer && buffer.duration) || audioDuration || end || 1;
    this.current.duration = total;
    this.$("viewer-meta").textContent = [
      duration(total),
      `${channels.length} channel${channels.length === 1 ? "" : "s"}`,
      `${segments.length} segments`,
      file ? null : "audio not attached: attach the file to play it",
    ]
      .filter(Boolean)
      .join(" · ");
    this.$("attach-label").hidden = Boolean(file);
    this.$("play").disabled = !file;
    const seek = (seconds) => this.seek(seconds);
    this.lanes = buildLanes(this.$("lanes"), { channels, colours, media: this.audio, buffer, duration: total, onSeek: seek });
    this.columns = new TranscriptColumns(this.$("columns"), { channels, colours, words, onSeek: seek });
    this.starts = segments.map((s) => s.start).sort((a, b) => a - b);
    this.wordStarts = new Map(
      channels.map(({ channel, segments: own }) => {
        const list = own.flatMap((s) => s.words);
        return [channel, { list, starts: list.map((w) => w.start) }];
      }),
    );
    this.segStarts = new Map(channels.map(({ channel, segments: own }) => [channel, { list: own, starts: own.map((s) => s.start) }]));
    this.search();
    this.tick();
  }

  close() {
    this.audio.pause();
    if (this.lanes) this.lanes.destroy();
    if (this.columns) this.columns.destroy();
    this.lanes = null;
    this.columns = null;
    this.current = null;
    this.litWords = [];
    this.litSegments = [];
  }

  seek(seconds) {
    if (!this.current) return;
    if (this.audio.src) this.audio.currentTime = Math.max(0, seconds);
    this.follow = true;
    this.tick(seconds);
  }

  toggle() {
    if (!this.audio.src) return;
    if (this.audio.paused) this.audio.play().catch((error) => this.onError(`Playback failed: ${error.message}`));
    else this.audio.pause();
  }

  playing(on) {
    const button = this.$("play");
    button.textContent = on ? "Pause" : "Play";
    button.setAttribute("aria-pressed", String(on));
    cancelAnimationFrame(this.frame);
    if (on) {
      this.follow = true;
      const loop = () => {
        this.tick();
        this.frame = requestAnimationFrame(loop);
      };
      this.frame = requestAnimationFrame(loop);
    }
  }

  /** Highlight the word and segment being played on every channel. */
  tick(at) {
    if (!this.current) return;
    const t = at ?? this.audio.currentTime ?? 0;
    this.$("time").textContent = `${clock(t)} / ${clock(this.current.duration)}`;
    const words = [];
    const segs = [];
    for (const { list, starts } of this.wordStarts.values()) {
      const i = lastAtOrBefore(starts, t + 0.01);
      if (i >= 0 && t <= list[i].end + 0.25) words.push(list[i].index);
    }
    for (const { list, starts } of this.segStarts.values()) {
      const i = lastAtOrBefore(starts, t + 0.01);
      if (i >= 0 && t <= list[i].end + 0.25) segs.push(list[i].index);
    }
    if (String(words) !== String(this.litWords)) {
      for (const node of this.$("columns").querySelectorAll(".w.now")) node.classList.remove("now");
      for (const index of words) this.$("columns").querySelector(`[data-w="${index}"]`)?.classList.add("now");
      this.litWords = words;
    }
    if (String(segs) !== String(this.litSegments)) {
      for (const node of this.$("columns").querySelectorAll(".seg.now")) node.classList.remove("now");
      for (const index of segs) {
        const row = this.columns.reveal(index);
        if (!row) continue;
        row.classList.add("now");
        if (this.follow && this.$("follow").checked) row.scrollIntoView({ block: "nearest" });
      }
      this.litSegments = segs;
    }
  }

  step(direction) {
    const t = this.audio.src ? this.audio.currentTime : this.cursor || 0;
    let target;
    if (direction > 0) target = this.starts.find((s) => s > t + 0.05);
    else target = [...this.starts].reverse().find((s) => s < t - 0.3);
    if (target === undefined) target = direction > 0 ? t : 0;
    this.cursor = target;
    this.seek(target);
  }

  key(event) {
    if (!this.current || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing =
      target.closest("textarea, select, dialog, [contenteditable]") ||
      (target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "file"].includes(target.type));
    if (typing) return;
    if (event.key === " ") {
      if (target.closest("button, input, a, label")) return; // their own Space (press, toggle)
      event.preventDefault();
      this.toggle();
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      this.step(event.key === "ArrowRight" ? 1 : -1);
    }
  }

  search() {
    if (!this.current) return;
    const query = this.$("search").value.trim().toLowerCase();
    this.hits = query ? this.current.segments.filter((s) => s.text.toLowerCase().includes(query)).map((s) => s.index) : [];
    this.hitAt = -1;
    this.columns.markHits(new Set(this.hits));
    this.$("search-count").textContent = query ? `${this.hits.length} match${this.hits.length === 1 ? "" : "es"}` : "";
  }

  nextHit(direction) {
    if (!this.hits || !this.hits.length) return;
    this.hitAt = (this.hitAt + direction + this.hits.length) % this.hits.length;
    const index = this.hits[this.hitAt];
    this.$("search-count").textContent = `${this.hitAt + 1} of ${this.hits.length}`;
    const row = this.columns.reveal(index);
    if (row) {
      for (const node of this.$("columns").querySelectorAll(".seg.hit-now")) node.classList.remove("hit-now");
      row.classList.add("hit-now");
      row.scrollIntoView({ block: "center" });
    }
  }

  async download() {
    if (!this.current) return;
    const format = this.$("export-format").value;
    const button = this.$("export");
    button.disabled = true;
    try {
      const blob = await exportTask(this.current.taskId, format);
      const base = (this.current.name || this.current.taskId).replace(/\.[^.]+$/, "");
      const link = el("a", { href: URL.createObjectURL(blob), download: `${base}.${EXTENSIONS[format]}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      this.onError(`Export failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }
}
