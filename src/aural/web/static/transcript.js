// The transcript text, one column per channel, rendered in chunks as they scroll into view, so an
// hour of speech (thousands of segments, tens of thousands of words) opens and scrolls smoothly.

import { clock, el, languageName } from "./util.js";

const CHUNK = 40; // segments per chunk
const ROOT_MARGIN = "600px"; // render chunks this far ahead of the visible part

/**
 * Columns in `container` for `channels` ([{channel, segments}]); every segment has `index` (its
 * place in the whole transcript) and every word `index` (likewise). Clicks on a word or a time
 * call `onSeek(seconds)`.
 */
export class TranscriptColumns {
  constructor(container, { channels, colours, words, onSeek }) {
    this.container = container;
    this.colours = colours;
    this.words = words;
    this.chunks = new Map(); // chunk element -> segments
    this.rendered = new Set();
    this.hits = new Set();
    this.showWords = words;
    this.segmentElements = new Map(); // segment index -> element, of rendered chunks
    container.replaceChildren();
    container.style.setProperty("--columns", String(channels.length));
    this.observers = [];
    for (const { channel, segments } of channels) {
      const body = el("div", { class: "col-body", tabindex: "0", "aria-label": `Channel ${channel} transcript` });
      const column = el(
        "section",
        { class: "col", "data-channel": channel },
        el("h3", { class: "col-head", text: `Channel ${channel}` }),
        body,
      );
      container.append(column);
      const observer = new IntersectionObserver((entries) => this.visible(entries), { root: body, rootMargin: ROOT_MARGIN });
      this.observers.push(observer);
      for (let i = 0; i < segments.length; i += CHUNK) {
        const part = segments.slice(i, i + CHUNK);
        const estimate = part.reduce((sum, s) => sum + 1.6 + Math.ceil(s.text.length / 55) * 1.5, 0);
        const chunk = el("div", { class: "chunk", style: `min-height:${estimate}em` });
        this.chunks.set(chunk, part);
        body.append(chunk);
        observer.observe(chunk);
      }
      if (!segments.length) body.append(el("p", { class: "empty", text: "No speech on this channel." }));
    }
    container.addEventListener("click", (event) => {
      const target = event.target.closest("[data-start]");
      if (target) onSeek(Number(target.dataset.start));
    });
  }

  visible(entries) {
    for (const entry of entries) if (entry.isIntersecting) this.render(entry.target);
  }

  render(chunk) {
    if (this.rendered.has(chunk)) return;
    this.rendered.add(chunk);
    const rows = this.chunks.get(chunk).map((segment) => this.row(segment));
    chunk.replaceChildren(...rows);
    chunk.style.minHeight = "";
  }

  row(segment) {
    const text = el("p", { class: "text", lang: segment.language });
    if (this.showWords && segment.words.length) {
      // Words come trimmed; languages written without spaces have none in the segment either.
      const spaced = segment.text.includes(" ");
      segment.words.forEach((word, i) => {
        const spoken = word.text.trim();
        if (i > 0 && spaced) text.append(" ");
        text.append(el("span", { class: "w", "data-w": word.index, "data-start": word.start, text: spoken }));
      });
    } else {
      text.textContent = segment.text;
    }
    const row = el(
      "div",
      { class: this.hits.has(segment.index) ? "seg hit" : "seg", "data-seg": segment.index },
      el(
        "div",
        { class: "seg-meta" },
        el("button", {
          class: "ts",
          type: "button",
          "data-start": segment.start,
          "aria-label": `Play from ${clock(segment.start)}`,
          text: clock(segment.start),
        }),
        el(
          "span",
          { class: "badge", title: languageName(segment.language) },
          el("span", { class: "dot", style: `background:${this.colours.get(segment.language)}`, "aria-hidden": "true" }),
          segment.language,
        ),
        el("span", { class: "chan", text: `ch ${segment.channel}` }),
      ),
      text,
    );
    this.segmentElements.set(segment.index, row);
    return row;
  }

  /** Render the chunk holding segment `index` (to scroll to it or mark it). */
  reveal(index) {
    if (!this.segmentElements.has(index)) {
      for (const [chunk, part] of this.chunks) {
        if (part.some((s) => s.index === index)) {
          this.render(chunk);
          break;
        }
      }
    }
    return this.segmentElements.get(index) || null;
  }

  /** Show words (clickable, highlighted while playing) or whole segment texts. */
  setWords(show) {
    this.showWords = show;
    for (const chunk of this.rendered) {
      const rows = this.chunks.get(chunk).map((segment) => this.row(segment));
      chunk.replaceChildren(...rows);
    }
  }

  markHits(hits) {
    this.hits = hits;
    for (const [index, row] of this.segmentElements) row.classList.toggle("hit", hits.has(index));
  }

  destroy() {
    for (const observer of this.observers) observer.disconnect();
    this.container.replaceChildren();
  }
}
