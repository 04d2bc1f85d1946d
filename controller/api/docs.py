"""The API's interactive documentation (Swagger UI) from files served by the controller itself.

FastAPI's default /docs and /redoc pages load their scripts and styles from a CDN: in a store
without internet they were blank. Swagger UI's files come from the `swagger-ui-bundle-v2` package
(Apache-2.0) and are served under /api-docs/; the page starts it with a script file of ours (the
page's CSP allows no inline script). ReDoc is not offered: one reader of the same document is
enough, and no Python package ships it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse

ASSETS_PATH = "/api-docs"
OWN_ASSETS = Path(__file__).parent / "docs_assets"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>omnishelf controller API</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" href="data:,">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/init.js"></script>
</body>
</html>
"""


def swagger_dir() -> Path:
    """The folder of Swagger UI's files in the installed `swagger-ui-bundle-v2` package."""
    vendor = Path(str(files("swagger_ui_bundle") / "vendor"))
    return max(vendor.glob("swagger-ui-*"))  # one version ships; the newest if ever several


def install_docs(app: FastAPI) -> None:
    """GET /docs, and the files it loads under /api-docs/ (not in the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    swagger = swagger_dir()

    @router.get("/docs")
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(_PAGE)

    @router.get(f"{ASSETS_PATH}/{{name}}")
    async def asset(name: str) -> FileResponse:
        if name == "init.js":
            return FileResponse(OWN_ASSETS / "init.js", media_type="text/javascript")
        if name not in SWAGGER_FILES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file {name!r}")
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return FileResponse(swagger / name, media_type=media)

    app.include_router(router)
