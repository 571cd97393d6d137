"""The web page in headless Chromium against a real ``aural serve`` (base model) on loopback.

Covered: the stereo fixture split gives two lanes each with its own words; clicking a word moves
playback there; the srt export is ``aural transcribe -f srt`` of the same file; the es/en/fr
fixture with switching gives regions in three language colours, the arrow keys step segments
and search finds text; a not-media file shows its error; with keys on the page asks for a key,
keeps it in the tab only, and shows the server's error for a bad one; an hour-long transcript
(stored as a worker would) renders only what is in view and merges its regions by language.

``AURAL_WEB_SCREENSHOT=docs/web.png`` also saves the stereo transcript's screenshot there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import load_json, wer
from playwright.sync_api import Page, expect

from aural.jobs.records import transcript_to_record
from aural.jobs.store import NewTask, TaskState, TaskStore
from aural.types import ChannelInfo, Segment, Task, Transcript, Word

from .conftest import AuralProcess, ServeFactory

DONE = ".job .state[data-state=done]"
TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def server(serve_process: ServeFactory) -> AuralProcess:
    return serve_process()


def _send(page: Page, server: AuralProcess, media: Path, switching: bool = False) -> None:
    page.goto(server.url)
    expect(page.locator("#tasks-title")).to_be_visible()
    if switching:
        page.check("#switching")
    page.set_input_files("#file", str(media))


def _words(page: Page, channel: int) -> str:
    return " ".join(page.locator(f'.col[data-channel="{channel}"] .w').all_inner_texts())


def test_stereo_two_lanes_words_seek_and_srt_export(
    page: Page, server: AuralProcess, data_dir: Path, tmp_path: Path
) -> None:
    media = data_dir / "stereo_two_speakers.flac"
    reference = load_json(data_dir / "stereo_two_speakers.json")["channels"]
    _send(page, server, media)
    page.wait_for_selector(DONE, timeout=TIMEOUT_MS)
    # Nothing else was open: the finished transcript opens by itself.
    expect(page.locator("#viewer-title")).to_have_text(media.name)
    lanes = page.locator(".lane")
    expect(lanes).to_have_count(2)
    expect(lanes.nth(0)).to_contain_text("Channel 0")
    expect(lanes.nth(1)).to_contain_text("Channel 1")
    expect(page.locator(".lane [part~=region]").first).to_be_attached()
    left, right = _words(page, 0), _words(page, 1)
    assert wer(reference["0"], left) <= 0.3, left
    assert wer(reference["1"], right) <= 0.3, right

    # Click a word: playback moves to its start, and it is the highlighted one.
    page.wait_for_function("document.getElementById('audio').readyState >= 1")
    word = page.locator('.col[data-channel="1"] .w').nth(6)
    start = float(word.get_attribute("data-start") or "nan")
    word.click()
    position = page.evaluate("document.getElementById('audio').currentTime")
    assert position == pytest.approx(start, abs=0.05)
    expect(word).to_have_class("w now")

    shot = tmp_path / "web.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("AURAL_WEB_SCREENSHOT"):
        page.screenshot(path=os.environ["AURAL_WEB_SCREENSHOT"])

    # Export srt through the server equals the CLI's srt of the same file (the task's options).
    page.select_option("#export-format", "srt")
    with page.expect_download() as download:
        page.click("#export")
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename == "stereo_two_speakers.srt"
    cli = server.aural("transcribe", str(media), "--word-timestamps", "-f", "srt")
    assert exported == cli.stdout
    assert "[channel 1]" in exported


def test_switching_regions_in_three_language_colours(
    page: Page, server: AuralProcess, data_dir: Path
) -> None:
    _send(page, server, data_dir / "switching_es_en_fr.flac", switching=True)
    page.wait_for_selector(DONE, timeout=TIMEOUT_MS)
    expect(page.locator("#legend li")).to_have_count(3)
    legend = page.locator("#legend li").evaluate_all("els => els.map(e => e.dataset.language)")
    assert set(legend) == {"es", "en", "fr"}
    regions = page.locator(".lane [part~=region]")
    expect(regions.first).to_be_attached()
    found = regions.evaluate_all(
        "els => els.map(e => [e.getAttribute('part').split(' ')[1].split('-').pop(),"
        " getComputedStyle(e).backgroundColor])"
    )
    colours: dict[str, set[str]] = {}
    for language, colour in found:
        colours.setdefault(language, set()).add(colour)
    assert set(colours) == {"es", "en", "fr"}
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len(set.union(*colours.values())) == 3, "one colour per language, all different"

    # Arrow right steps to the next segment start (the second segment).
    page.wait_for_function("document.getElementById('audio').readyState >= 1")
    starts = page.locator(".seg .ts").evaluate_all("els => els.map(e => Number(e.dataset.start))")
    following = min(s for s in starts if s > 0.05)
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.getElementById('audio').currentTime") == pytest.approx(
        following, abs=0.05
    )

    # Search marks the segments that say it, and Enter goes to the first.
    page.fill("#search", "conferencia")
    expect(page.locator("#search-count")).to_contain_text("match")
    page.locator("#search").press("Enter")
    expect(page.locator(".seg.hit-now")).to_contain_text("conferencia", ignore_case=True)


def test_a_file_that_is_not_media_shows_its_error(
    page: Page, server: AuralProcess, data_dir: Path
) -> None:
    _send(page, server, data_dir / "bad" / "not_media.wav")
    page.wait_for_selector(".job .state[data-state=rejected]", timeout=TIMEOUT_MS)
    message = page.locator(".job .job-error")
    expect(message).to_be_visible()
    assert len(message.inner_text()) > 10
    expect(page.locator(".task-open[data-task-id]").first).to_be_disabled()


def test_with_keys_the_page_asks_for_one_and_shows_a_bad_ones_error(
    page: Page, serve_process: ServeFactory
) -> None:
    server = serve_process(key_name="web-test")
    page.goto(server.url)
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#key-error")).to_be_hidden()
    page.fill("#key-input", "aural_not-a-key")
    page.click("#key-form button[type=submit]")
    expect(dialog).to_be_visible()
    expect(page.locator("#key-error")).to_contain_text("refused")
    page.fill("#key-input", server.env["TEST_KEY"])
    page.click("#key-form button[type=submit]")
    expect(dialog).to_be_hidden()
    expect(page.locator("#tasks-empty")).to_be_visible()
    stored = page.evaluate("[sessionStorage.getItem('aural.apiKey'), JSON.stringify(localStorage)]")
    assert stored[0] == server.env["TEST_KEY"]
    assert server.env["TEST_KEY"] not in stored[1], "the key is kept in the tab only"


def _hour_long_transcript() -> Transcript:
    """Two channels of an hour each: 2 x 1800 segments, 10 words each, en/es/fr in runs of 60."""
    segments = []
    for channel in (0, 1):
        for n in range(1800):
            start = n * 2.0 + channel * 0.5
            words = tuple(
                Word(start + i * 0.15, start + i * 0.15 + 0.12, f"w{n}x{i}", 0.9) for i in range(10)
            )
            language = ("en", "es", "fr")[(n // 60) % 3]
            text = " ".join(w.text for w in words)
            segments.append(
                Segment(len(segments), start, start + 1.5, text, channel, language, words)
            )
    channels = tuple(ChannelInfo(c, "en", 0.9, 3600.0, 2700.0) for c in (0, 1))
    return Transcript("en", 3600.0, Task.TRANSCRIBE, channels, tuple(segments))


def _claimed_before_the_server(store: TaskStore, tries: int = 5) -> str:
    """A task this test claimed in the running server's store. The server's own workers poll
    for pending tasks, and one of them may claim the task between its insert and the test's
    claim (CI saw it): that task fails on its empty media, and the test takes another."""
    for _ in range(tries):
        record = store.create(NewTask("phonexia", "base", {}, "", 0))
        if store.claim(record.id, "test"):
            return record.id
    raise AssertionError(f"the server's workers claimed {tries} tasks in a row first")


def test_an_hour_long_transcript_renders_a_bounded_part_at_a_time(
    page: Page, server: AuralProcess
) -> None:
    """3600 segments and 36 000 words: rows appear as they scroll in, regions merge by language."""
    store = TaskStore(f"sqlite:///{Path(server.env['AURAL_DATA_DIR']).resolve() / 'aural.db'}")
    try:
        task_id = _claimed_before_the_server(store)
        result = transcript_to_record(_hour_long_transcript())
        assert store.finish(task_id, TaskState.DONE, result=result, audio_duration_s=3600.0)
    finally:
        store.close()
    page.goto(server.url)
    page.click(f'.task-open[data-task-id="{task_id}"]')
    expect(page.locator("#viewer-meta")).to_contain_text("3600 segments")
    expect(page.locator(".seg").first).to_be_visible()
    assert page.locator(".seg").count() <= 400, "only the chunks in view are rendered"
    regions = page.locator(".lane [part~=region]")
    expect(regions.first).to_be_attached()
    assert regions.count() == 2 * 30, "one region per language run (60 segments) per lane"
    # The end of a column renders once scrolled to.
    last = page.locator('.col[data-channel="1"] .seg[data-seg="3599"]')
    expect(last).to_have_count(0)
    page.locator('.col[data-channel="1"] .col-body').evaluate("b => b.scrollTo(0, b.scrollHeight)")
    expect(last).to_contain_text("w1799x9")
    # Search reaches segments that were never rendered.
    page.fill("#search", "w1500x3 ")
    page.locator("#search").press("Enter")
    expect(page.locator(".seg.hit-now")).to_have_count(1)
