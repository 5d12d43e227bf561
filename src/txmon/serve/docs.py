"""The API's documentation pages, /docs (Swagger UI) and /redoc, with their scripts, styles and
icon served by the API itself: they work on a machine without internet access.

The files come from the `fastapi-offline` package (Swagger UI 5 and ReDoc 2, each under its
own licence, named at the top of its file); FastAPI writes the pages around them. Each page
carries a content-security policy that lets it load only this server's files and run only its
own inline script, named by hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def assets_dir() -> Path:
    """Where the installed `fastapi-offline` keeps the files (its `static` folder)."""
    return Path(str(resources.files("fastapi_offline").joinpath("static")))


def _script_hashes(page: str) -> list[str]:
    """CSP sources allowing exactly the inline <script> blocks of `page`, by their SHA-256."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(page)
    ]


def _policy(page: str, *, style: str, worker: str = "'none'") -> str:
    """The page's content-security policy: nothing from elsewhere, no framing, no forms."""
    scripts = " ".join(["'self'", *_script_hashes(page)])
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {scripts}",
            f"style-src {style}",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            f"worker-src {worker}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their files on `app` (made with docs_url and redoc_url None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_URL}/favicon.png"
    swagger = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=favicon,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    redoc = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=favicon,
        with_google_fonts=False,
    )
    # The pages never change while the app runs: written, and their policies hashed, once.
    # ReDoc styles itself with <style> elements it writes at run time (styled-components) and
    # searches in a worker it starts from a blob: URL; Swagger UI needs neither.
    swagger_page = bytes(swagger.body).decode()
    redoc_page = bytes(redoc.body).decode()
    swagger_headers = {"Content-Security-Policy": _policy(swagger_page, style="'self'")}
    redoc_headers = {
        "Content-Security-Policy": _policy(
            redoc_page, style="'self' 'unsafe-inline'", worker="blob:"
        )
    }

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger_page, headers=swagger_headers)

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc_ui() -> HTMLResponse:
        return HTMLResponse(redoc_page, headers=redoc_headers)
