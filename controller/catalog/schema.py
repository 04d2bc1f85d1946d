"""The JSON Schema of the catalog item format, as published in docs/catalog-item.schema.json.

Regenerate after changing `CatalogItem`:
    .venv/bin/python -m controller.catalog.schema > docs/catalog-item.schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from controller.catalog.items import CatalogItem


def catalog_item_schema() -> dict[str, Any]:
    schema = CatalogItem.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "omnishelf catalog item",
        **schema,
    }


if __name__ == "__main__":
    json.dump(catalog_item_schema(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
