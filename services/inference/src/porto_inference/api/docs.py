"""/docs (Swagger UI) and /redoc with their JavaScript, CSS and icon served by the API itself.

FastAPI's default pages load Swagger UI and ReDoc from a public CDN (and ReDoc its fonts from
Google), so on an air-gapped cluster /docs is a blank page. These are FastAPI's documented
"self-hosting JavaScript and CSS for docs" routes, with the assets taken from the pinned
``fastapi-offline`` package (which ships Swagger UI 5 and ReDoc 2 as files) instead of a copy
committed here. URLs carry the ASGI ``root_path``, so the pages also work behind a path prefix.

Both pages also carry a Content-Security-Policy that lets them load from the API only: ReDoc's
sidebar links a logo image on its vendor's CDN, which the browser then never asks for (on an
air-gapped network the request would just fail; elsewhere it would tell a third party who reads
the docs).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the assets are served.
ASSETS_PATH = "/docs/static"
#: The files the pages load (all in fastapi-offline's ``static/``).
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
#: Everything from the API itself; inline script and style as both pages use them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def assets_dir() -> Path:
    """The folder holding the Swagger UI and ReDoc files; FileNotFoundError naming what is
    missing if the installed fastapi-offline does not ship them."""
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [
        f for f in (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON) if not (folder / f).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"fastapi-offline ships no {', '.join(missing)} in {folder}")
    return folder


def install_docs(app: FastAPI, *, title: str) -> None:
    """Add /docs, /redoc and their assets to ``app`` (created with docs_url and redoc_url
    None)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets")

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}/{name}"

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    @app.get("/docs", include_in_schema=False)
    async def get_swagger_ui(request: Request) -> HTMLResponse:
        return _self_only(
            get_swagger_ui_html(
                openapi_url=openapi_url(request),
                title=f"{title} - Swagger UI",
                swagger_js_url=asset(request, SWAGGER_JS),
                swagger_css_url=asset(request, SWAGGER_CSS),
                swagger_favicon_url=asset(request, FAVICON),
                # No "valid" badge: it would send the document to swagger.io's validator.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def get_redoc(request: Request) -> HTMLResponse:
        return _self_only(
            get_redoc_html(
                openapi_url=openapi_url(request),
                title=f"{title} - ReDoc",
                redoc_js_url=asset(request, REDOC_JS),
                redoc_favicon_url=asset(request, FAVICON),
                with_google_fonts=False,
            )
        )


def _self_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
