"""``python -m aural`` runs the CLI."""

from aural.cli import main

main()
