"""What the in-process benchmarks (``weak_voices``, ``whole_set``) share: their command line
and how a report is published. They measure the ``aural`` they import, so another commit is
measured by putting its exported ``src`` first on ``PYTHONPATH``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aural.model_pool import ModelPool


def arguments(doc: str | None) -> argparse.Namespace:
    """``--out`` (a Markdown file for the report) and ``--label`` (put in its title); the
    module's docstring is the help."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--label", default="")
    return parser.parse_args()


def model_pool() -> ModelPool:
    """The pool of the ``aural`` on the path (imported here, after the arguments are read)."""
    from aural.model_pool import get_model_pool

    return get_model_pool()


def publish(lines: list[str], out: Path | None) -> None:
    """Print the report, and write it to ``out`` when given."""
    report = "\n".join(lines) + "\n"
    print(report)
    if out:
        out.write_text(report)
