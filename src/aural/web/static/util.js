// Small helpers shared by the page's modules: clocks, language names and colours, DOM building.

/** `m:ss.s` (or `h:mm:ss.s`) for a time in seconds. */
export function clock(seconds, digits = 1) {
  const s = Math.max(0, seconds || 0);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = (s % 60).toFixed(digits).padStart(digits ? 3 + digits : 2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** A duration for people: `42 s`, `3 min 5 s`, `1 h 2 min`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const names = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "language" }) : null;

/** "Spanish" for "es"; the tag itself when the browser does not know it. */
export function languageName(tag) {
  try {
    return (names && names.of(tag)) || tag;
  } catch {
    return tag;
  }
}

// Distinct hues that read on light and dark backgrounds (Tailwind 600s); regions use them
// translucent, the legend and badges as dots next to text in the normal colour (contrast).
const PALETTE = ["#2563eb", "#db2777", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d"];

/** Language -> colour, in order of first appearance, so a transcript's colours are stable. */
export function languageColours(languages) {
  const colours = new Map();
  for (const language of languages) {
    if (!colours.has(language)) colours.set(language, PALETTE[colours.size % PALETTE.length]);
  }
  return colours;
}

export function translucent(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** `el("div", {class: "x", onclick}, child, "text")`: a small element builder. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

/** The index of the last item of sorted `starts` that is <= `t` (-1 when none). */
export function lastAtOrBefore(starts, t) {
  let lo = 0;
  let hi = starts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
