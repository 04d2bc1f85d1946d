"""The store console: a web UI served by the controller (docs/console.md).

Server-rendered pages (Jinja2 templates) with a little vanilla JavaScript; every asset ships in
this package (no CDN, no external fonts), so the console works in a store with no internet.
`console_router()` holds the pages, `mount_static(app)` serves `static/` under /console/static.
"""

from controller.console.routes import console_router, mount_static

__all__ = ["console_router", "mount_static"]
