"""The web page: static HTML, CSS and ES modules served by ``aural serve`` at ``/``.

Nothing is built at install time and the browser fetches nothing from elsewhere: the page talks
to the server's own Phonexia task API and loads wavesurfer.js from the vendored copy under
``static/vendor/`` (refreshed by ``scripts/vendor-wavesurfer.sh`` at a pinned version).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
# The page's assets are served from here; the page itself from "/".
ASSETS_PATH = "/web"

# Only the server itself: no third-party scripts, styles, fonts or connections. Inline styles are
# allowed because wavesurfer.js styles its shadow DOM with them; media plays from blob: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def install(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under :data:`ASSETS_PATH`."""
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="web")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
            },
        )
