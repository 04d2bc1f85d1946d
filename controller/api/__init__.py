"""The staff REST API (under /api/v1, bearer tokens with roles) and the shoppers' QR-scan
redirect (/q/{store}/{sku}). `create_app` builds the FastAPI application; docs/api.md is the
reference."""

from controller.api.app import create_app

__all__ = ["create_app"]
