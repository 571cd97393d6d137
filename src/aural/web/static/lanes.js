// One waveform lane per channel (wavesurfer.js), all playing one shared <audio> element, with the
// channel's segments as regions coloured by language and one time axis under the last lane.

import WaveSurfer from "./vendor/wavesurfer/wavesurfer.esm.js";
import RegionsPlugin from "./vendor/wavesurfer/plugins/regions.esm.js";
import TimelinePlugin from "./vendor/wavesurfer/plugins/timeline.esm.js";
import { el, languageName, translucent } from "./util.js";

// Beyond this many segments in a lane, neighbouring segments of one language share one region:
// a lane never holds more than a few hundred region elements, however long the audio.
const MAX_REGIONS_PER_LANE = 400;
// Peaks drawn per lane; wavesurfer resamples them to the lane's width.
const PEAKS_PER_LANE = 6000;
// Decoding for peaks only: a low rate keeps an hour of stereo within ~230 MB.
const PEAK_SAMPLE_RATE = 8000;

/** The file's samples per channel at a low rate, or null when the browser cannot decode it. */
export async function decodeForPeaks(file) {
  try {
    const data = await file.arrayBuffer();
    const context = new OfflineAudioContext(1, 1, PEAK_SAMPLE_RATE);
    return await context.decodeAudioData(data);
  } catch {
    return null;
  }
}

function peaksOf(buffer, channel) {
  let samples;
  if (channel < buffer.numberOfChannels) {
    samples = buffer.getChannelData(channel);
  } else {
    // A down-mixed transcript (channel 0 of a mix): the mean of all channels.
    samples = new Float32Array(buffer.length);
    for (let c = 0; c < buffer.numberOfChannels; c++) {
      const data = buffer.getChannelData(c);
      for (let i = 0; i < data.length; i++) samples[i] += data[i] / buffer.numberOfChannels;
    }
  }
  const buckets = Math.max(1, Math.min(PEAKS_PER_LANE, samples.length));
  const size = samples.length / buckets;
  const peaks = new Float32Array(buckets);
  for (let b = 0; b < buckets; b++) {
    let max = 0;
    const end = Math.min(samples.length, Math.floor((b + 1) * size));
    for (let i = Math.floor(b * size); i < end; i++) {
      const v = samples[i] < 0 ? -samples[i] : samples[i];
      if (v > max) max = v;
    }
    peaks[b] = max;
  }
  return peaks;
}

/** Regions for one lane: a region per segment, or per language run when there are too many. */
function regionSpans(segments) {
  if (segments.length <= MAX_REGIONS_PER_LANE) {
    return segments.map((s) => ({ start: s.start, end: s.end, language: s.language, segment: s }));
  }
  const spans = [];
  for (const s of segments) {
    const last = spans[spans.length - 1];
    if (last && last.language === s.language) last.end = Math.max(last.end, s.end);
    else spans.push({ start: s.start, end: s.end, language: s.language, segment: s });
  }
  return spans;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * Build the lanes in `container` for `channels` ([{channel, segments}]).
 * `buffer` (AudioBuffer or null) gives the waveform; without it the lanes are flat.
 * `onSeek(seconds)` is called for clicks on a region.
 */
export function buildLanes(container, { channels, colours, media, buffer, duration, onSeek }) {
  container.replaceChildren();
  const instances = [];
  const waveColor = cssVar("--wave");
  const progressColor = cssVar("--wave-progress");
  const cursorColor = cssVar("--accent");
  const regionAlpha = Number(cssVar("--region-alpha")) || 0.3;
  channels.forEach(({ channel, segments }, position) => {
    const languages = [...new Set(segments.map((s) => s.language))];
    const wave = el("div", { class: "wave", "data-channel": channel });
    const lane = el(
      "section",
      { class: "lane", "aria-label": `Channel ${channel} waveform` },
      el(
        "div",
        { class: "lane-head" },
        el("span", { class: "lane-name", text: `Channel ${channel}` }),
        el("span", { class: "lane-langs", text: languages.map(languageName).join(", ") }),
      ),
      wave,
    );
    container.append(lane);
    const peaks = buffer ? peaksOf(buffer, channel) : new Float32Array([0, 0]);
    const plugins = [];
    if (position === channels.length - 1) {
      plugins.push(TimelinePlugin.create({ style: { fontSize: "11px", color: cssVar("--muted") } }));
    }
    const ws = WaveSurfer.create({
      container: wave,
      media,
      peaks: [peaks],
      duration,
      height: 64,
      waveColor,
      progressColor,
      cursorColor,
      cursorWidth: 2,
      barWidth: 2,
      barGap: 1,
      barRadius: 2,
      normalize: true,
      interact: Boolean(buffer),
      plugins,
    });
    const regions = ws.registerPlugin(RegionsPlugin.create());
    ws.once("decode", () => {
      regionSpans(segments).forEach((span, i) => {
        regions.addRegion({
          id: `r-${channel}-${i}-${span.language}`,
          start: span.start,
          end: Math.max(span.end, span.start + 0.05),
          color: translucent(colours.get(span.language), regionAlpha),
          drag: false,
          resize: false,
        });
      });
    });
    regions.on("region-clicked", (region, event) => {
      event.stopPropagation();
      onSeek(region.start);
    });
    instances.push(ws);
  });
  return {
    destroy() {
      for (const ws of instances) ws.destroy();
      container.replaceChildren();
    },
  };
}
