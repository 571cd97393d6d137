"""The ``aural`` command: transcribe local files and manage the bundled models.

Results go to stdout (one input) or to files; progress and errors go to stderr, so
``aural transcribe a.wav > a.json`` stays clean. Exit codes: 0 done, 2 bad usage or bad input.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from aural import __version__
from aural.config import get_settings
from aural.errors import AuralError
from aural.formats import WRITERS, OutputFormat, render
from aural.memory import HUGE_PAGES_AFTER_AUDIO_S, restart_with_huge_pages
from aural.model_pool import get_model_pool
from aural.models import CATALOGUE, installed_source, verify
from aural.types import ChannelMode, Task, TranscriptionOptions

if TYPE_CHECKING:
    from aural.jobs.store import TaskStore

EXIT_BAD_INPUT = 2

app = typer.Typer(
    help="Self-hosted Whisper speech-to-text.", no_args_is_help=True, pretty_exceptions_enable=False
)
models_app = typer.Typer(help="The bundled model catalogue.", no_args_is_help=True)
app.add_typer(models_app, name="models")
keys_app = typer.Typer(help="API keys of the server.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
db_app = typer.Typer(help="Schema migrations of the task store.", no_args_is_help=True)
app.add_typer(db_app, name="db")

stderr = Console(stderr=True)
stdout = Console(soft_wrap=True, highlight=False)


def _error(message: str) -> None:
    """One unwrapped, unstyled line on stderr: scripts grep it, terminals show it whole."""
    typer.echo(f"error: {message}", err=True)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    _error(message)
    raise typer.Exit(code)


def _parse_channels(value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        _fail(f"--channels takes comma-separated channel numbers like 0,2, not {value!r}")


def _version(show: bool) -> None:
    if show:
        stdout.print(f"aural {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Self-hosted Whisper speech-to-text."""


@app.command()
def transcribe(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Media files (any format FFmpeg reads).")],
    model: Annotated[str | None, typer.Option(help="Catalogue name or model directory.")] = None,
    language: Annotated[str | None, typer.Option(help="ISO 639-1 / RFC 5646 tag, or auto.")] = None,
    language_switching: Annotated[
        bool, typer.Option(help="Re-detect the language every ~30 s of speech.")
    ] = False,
    task: Annotated[
        Task, typer.Option(help="transcribe, or translate to English.")
    ] = Task.TRANSCRIBE,
    channel_mode: Annotated[
        ChannelMode, typer.Option(help="split: each channel alone; mix: down-mix first.")
    ] = ChannelMode.SPLIT,
    channels: Annotated[
        str | None, typer.Option(help="Comma-separated 0-based channels, e.g. 0,2 (all if unset).")
    ] = None,
    word_timestamps: Annotated[bool, typer.Option(help="Time every word.")] = False,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.JSON,
    output_dir: Annotated[
        Path | None, typer.Option(help="Write <name>.<ext> files here instead of stdout.")
    ] = None,
    beam_size: Annotated[int, typer.Option(help="Beam width (1 = greedy).")] = 5,
    initial_prompt: Annotated[
        str | None, typer.Option(help="Text that primes the decoder.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="One sampling temperature (default: fallback ladder).")
    ] = None,
    vad: Annotated[bool, typer.Option(help="Skip non-speech before decoding.")] = True,
) -> None:
    """Transcribe (or translate) media files."""
    if _may_restart(ctx) and _audio_seconds(files) >= HUGE_PAGES_AFTER_AUDIO_S:
        restart_with_huge_pages(get_settings().huge_pages)
    try:
        options = TranscriptionOptions.create(
            task=task,
            language=language,
            language_switching=language_switching,
            channel_mode=channel_mode,
            channels=_parse_channels(channels),
            word_timestamps=word_timestamps,
            beam_size=beam_size,
            initial_prompt=initial_prompt,
            temperature=temperature,
            vad=vad,
        )
        pool = get_model_pool()
        with stderr.status(f"loading model {model or get_settings().model}"):
            pool.get(model)
    except AuralError as exc:
        _fail(exc.message)
    to_stdout = output_dir is None and len(files) == 1
    target_dir = output_dir or Path.cwd()
    if not to_stdout:
        target_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:>7.1f} s of audio"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )
    from aural.engine import transcribe_media  # here: `aural serve` must not load the engine

    with progress:
        for path in files:
            bar = progress.add_task(path.name, total=None)

            def on_progress(done: float, total: float, bar: TaskID = bar) -> None:
                progress.update(bar, completed=done, total=total)

            try:
                transcript = transcribe_media(path, options, pool, model, on_progress=on_progress)
            except AuralError as exc:
                failed += 1
                progress.remove_task(bar)
                _error(exc.message)
                continue
            progress.remove_task(bar)
            text = render(transcript, output_format)
            if to_stdout:
                sys.stdout.write(text)
            else:
                out = target_dir / f"{path.stem}.{WRITERS[output_format].extension}"
                out.write_text(text, encoding="utf-8")
                stderr.print(f"wrote {out}", highlight=False)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


@models_app.command("list")
def models_list() -> None:
    """Show the catalogue and which models are installed."""
    table = Table("name", "installed from", "description")
    for entry in CATALOGUE.values():
        source = installed_source(entry)
        table.add_row(
            entry.name,
            " + ".join(source.packages) if source else "[yellow]not installed[/yellow]",
            entry.description,
        )
    stdout.print(table)
    stdout.print("Any other name is downloaded by faster-whisper when online.")


@models_app.command("verify")
def models_verify(
    names: Annotated[
        list[str] | None, typer.Argument(help="Models to check (all if none).")
    ] = None,
) -> None:
    """Re-hash installed weights against their published size and SHA-256."""
    settings = get_settings()
    bad = 0
    for name in names or list(CATALOGUE):
        entry = CATALOGUE.get(name)
        if entry is None:
            _fail(f"unknown model {name!r}; known: {', '.join(CATALOGUE)}")
        try:
            with stderr.status(f"verifying {name}"):
                where = verify(entry, settings.cache_dir)
        except AuralError as exc:
            bad += 1
            _error(f"{name}: {exc.message}")
            continue
        stdout.print(f"{name}: ok ({where})")
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default AURAL_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default AURAL_PORT, 8000).")] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(help="Phonexia gRPC port (default AURAL_GRPC_PORT, 8080; 0: off)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Transcriptions at once (default AURAL_WORKERS, 1).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the HTTP server (Phonexia, DeepInfra and OpenAI faces) and the Phonexia gRPC face."""
    if _may_restart(ctx):  # its engine processes inherit the tunables
        restart_with_huge_pages(get_settings().huge_pages)
    import uvicorn

    from aural.api.app import create_app
    from aural.api.auth import Authenticator, is_loopback_host
    from aural.api.server import keep_loop_responsive, server_config
    from aural.config import Settings
    from aural.jobs.context import configure_logging
    from aural.jobs.store import TaskStore

    updates = {"host": host, "port": port, "grpc_port": grpc_port, "workers": workers}
    overrides = {name: value for name, value in updates.items() if value is not None}
    try:
        settings = Settings(**{**get_settings().model_dump(), **overrides})
    except ValueError as exc:
        _fail(str(exc).splitlines()[0])
    if not is_loopback_host(settings.host):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = TaskStore(settings.resolved_store_url)
        if settings.auto_migrate:
            store.create_schema()
        has_keys = Authenticator(store, False, None).has_keys()
        store.close()
        if not has_keys:
            _fail(
                f"refusing to serve on {settings.host} without API keys: create one with "
                "`aural keys create --name NAME`, or bind to 127.0.0.1"
            )
    configure_logging(log_level)
    grpc_note = f", gRPC on port {settings.grpc_port}" if settings.grpc_port else ""
    stderr.print(
        f"aural serving on http://{settings.host}:{settings.port} (docs at /docs{grpc_note}, "
        f"data in {settings.data_dir.resolve()})",
        highlight=False,
    )
    keep_loop_responsive()
    app = create_app(settings, serve_grpc=True)
    uvicorn.Server(server_config(app, settings, log_level=log_level)).run()


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Worker processes, one model each (default AURAL_WORKER_CONCURRENCY)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run a Celery worker that transcribes tasks queued by `aural serve` (AURAL_EXECUTOR=celery).

    It needs the same store (AURAL_STORE_URL), broker (AURAL_BROKER_URL) and media path
    (AURAL_MEDIA_DIR) as the API nodes.
    """
    if _may_restart(ctx):  # its pool processes are forked from it: they share the tunables
        restart_with_huge_pages(get_settings().huge_pages)
    from aural.jobs.worker import run_worker

    settings = get_settings()
    processes = concurrency or settings.worker_concurrency
    if processes < 1:
        _fail("--concurrency must be at least 1")
    stderr.print(
        f"aural worker: {processes} process(es), model {settings.model}, queue "
        f"{settings.queue!r} on {settings.broker_url}",
        highlight=False,
    )
    run_worker(settings, processes, log_level)


def _key_store() -> TaskStore:
    from aural.jobs.store import TaskStore

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = TaskStore(settings.resolved_store_url)
    store.create_schema()
    return store


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A unique name for the key's owner.")],
    languages: Annotated[
        str | None, typer.Option(help="Licensed languages of the key, e.g. en,de (default: all).")
    ] = None,
    rate: Annotated[
        str | None, typer.Option(help="Rate limit, e.g. 60/minute (default AURAL_RATE_LIMIT).")
    ] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    from aural.api.auth import create_key

    codes = [part.strip() for part in languages.split(",") if part.strip()] if languages else None
    store = _key_store()
    try:
        key, secret = create_key(store, name, codes, rate)
    except AuralError as exc:
        _fail(exc.message)
    finally:
        store.close()
    stderr.print(
        f"created key {key.name!r} (languages: "
        f"{', '.join(sorted(key.languages)) if key.languages else 'all licensed'}, "
        f"rate: {key.rate_limit or 'server default'}); it is shown only now:",
        highlight=False,
    )
    sys.stdout.write(secret + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Show the keys (never their secrets)."""
    from aural.api.auth import list_keys

    store = _key_store()
    try:
        keys = list_keys(store)
    finally:
        store.close()
    table = Table("name", "languages", "rate", "created", "revoked")
    for key in keys:
        table.add_row(
            key.name,
            ",".join(sorted(key.languages)) if key.languages else "all",
            key.rate_limit or "default",
            _when(key.created_at),
            _when(key.revoked_at) if key.revoked_at else "",
        )
    stdout.print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key; requests with it are refused from then on."""
    from aural.api.auth import revoke_key

    store = _key_store()
    try:
        revoked = revoke_key(store, name)
    finally:
        store.close()
    if not revoked:
        _fail(f"no active key named {name!r}")
    stderr.print(f"revoked key {name!r}", highlight=False)


def _db_url() -> str:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.resolved_store_url


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
) -> None:
    """Migrate the task store (AURAL_STORE_URL) to a revision; safe while other nodes start."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from aural.jobs import migrate

    url = _db_url()
    try:
        migrate.upgrade(url, revision)
        current = migrate.current_revision(url)
    except CommandError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"task store: {str(exc).splitlines()[0]}", 1)
    typer.echo(f"database at {current or 'none'}", err=True)


@db_app.command("current")
def db_current() -> None:
    """Print the task store's revision, or `none` (empty, or made before migrations)."""
    from sqlalchemy.exc import SQLAlchemyError

    from aural.jobs import migrate

    try:
        current = migrate.current_revision(_db_url())
    except SQLAlchemyError as exc:
        _fail(f"task store: {str(exc).splitlines()[0]}", 1)
    typer.echo(current or "none")


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Launch:
    """How the CLI runs: as its own process (``main``), or called inside another one.

    Only its own process may replace itself (:func:`aural.memory.restart_with_huge_pages`); a
    program that calls ``app([...])`` (the benchmark harness, tests) keeps running as it is.
    """

    own_process: bool = False


def _may_restart(ctx: typer.Context) -> bool:
    launch = ctx.obj
    return isinstance(launch, Launch) and launch.own_process


def _audio_seconds(files: list[Path]) -> float:
    """The audio (duration x channels) the files' headers announce, unreadable ones as none."""
    from aural.audio import announced_audio_seconds

    return sum(announced_audio_seconds(path) or 0.0 for path in files)


def main() -> None:
    """Console-script entry point."""
    app(obj=Launch(own_process=True))
