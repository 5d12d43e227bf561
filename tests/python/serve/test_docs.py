"""/docs and /redoc load everything from the API itself, under a tight content-security policy,
and render without internet access."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil

import pytest

from serve_helpers import TOKEN, serving
from txmon.serve.app import create_app
from txmon.serve.docs import ASSET_FILES, ASSETS_URL, assets_dir

pytest_plugins = ["serve_fixtures"]

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}


def policy_of(header: str) -> dict[str, list[str]]:
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def test_the_docs_load_only_local_files(down_url: str) -> None:
    # Behind a token too: a browser sends none for the pages and their files.
    with serving(create_app(down_url, token=TOKEN)) as server, server.client() as client:
        assert client.get("/status").status_code == 401
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 200, page
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            # Every address the page names: files, icon, and the schema it shows.
            found = re.findall(r'(?:src|href|spec-url)="([^"]*)"|url: \'([^\']*)\'', response.text)
            links = [attribute or script for attribute, script in found]
            assert "/openapi.json" in links and len(links) >= 3, links
            for link in links:
                assert link.startswith("/") and not link.startswith("//"), (page, link)
                asset = client.get(link)
                assert asset.status_code == 200, link
                if link.startswith(ASSETS_URL):
                    suffix = os.path.splitext(link)[1]
                    assert asset.headers["content-type"] == CONTENT_TYPES[suffix], link
                    assert asset.headers["x-content-type-options"] == "nosniff"
            assert "http:" not in response.text and "https:" not in response.text

            # Only this server's files, and only the page's own inline script, by its hash.
            policy = policy_of(response.headers["content-security-policy"])
            assert policy["default-src"] == ["'none'"]
            assert policy["frame-ancestors"] == ["'none'"]
            assert all(
                "http" not in source and source != "*" for s in policy.values() for source in s
            )
            inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
            digests = [
                "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                for s in inline
            ]
            assert policy["script-src"] == ["'self'", *digests]
            assert "'unsafe-inline'" not in policy["script-src"]
        assert (
            "'unsafe-inline'"
            not in policy_of(client.get("/docs").headers["content-security-policy"])["style-src"]
        )

        # Nothing else leaves the assets folder, and other answers get a policy of their own.
        assert (assets_dir().parent / "core.py").is_file()  # beside the folder, not in it
        assert client.get(f"{ASSETS_URL}/%2e%2e/core.py").status_code == 404
        assert client.get(f"{ASSETS_URL}/missing.js").status_code == 404
        assert client.get("/docs/oauth2-redirect").status_code == 401  # not served
        openapi = client.get("/openapi.json")
        assert (
            openapi.headers["content-security-policy"]
            == "default-src 'none'; frame-ancestors 'none'"
        )


def test_every_asset_is_installed() -> None:
    assert {path.name for path in assets_dir().iterdir()} >= set(ASSET_FILES)
    bundle = (assets_dir() / "swagger-ui-bundle.js").read_text()
    assert "SwaggerUIBundle" in bundle


@pytest.mark.slow
def test_the_docs_render_in_chromium_without_internet(down_url: str) -> None:
    chromium = os.environ.get("TXMON_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        pytest.skip("no Chromium: install Debian's chromium package or set TXMON_CHROMIUM")
    from playwright.sync_api import Route, sync_playwright

    with serving(create_app(down_url, token=TOKEN)) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            elsewhere: list[str] = []
            page.on(
                "console", lambda line: errors.append(line.text) if line.type == "error" else None
            )
            page.on("pageerror", lambda error: errors.append(str(error)))

            def local_only(route: Route) -> None:
                if route.request.url.startswith(server.url):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", local_only)
            page.goto(f"{server.url}/docs")
            page.locator(".opblock").first.wait_for(timeout=30_000)
            assert page.locator(".opblock").count() >= 7
            assert errors == []

            page.goto(f"{server.url}/redoc")
            heading = page.locator("h1").first
            heading.wait_for(timeout=30_000)
            assert heading.inner_text().startswith("txmon API")
            assert page.get_by_text("Add a batch of counts or transactions").count() > 0
            # ReDoc's footer asks for its maker's logo from the web; the policy stops it.
            assert all("img-src" in error for error in errors), errors
            assert elsewhere == []
        finally:
            browser.close()
