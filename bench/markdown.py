"""The tables of an `omnishelf bench --json` result as Markdown, for BENCHMARKS.md.

.venv/bin/python -m bench.markdown var/bench-full.json > tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.harness import cell


def section_markdown(section: dict[str, Any], *, columns: list[str] | None = None) -> str:
    rows = section["rows"]
    keys = columns or (list(rows[0]) if rows else [])
    lines = [f"**{section['title']}** ({section['seconds']:.0f} s)", ""]
    lines.append("| " + " | ".join(k.replace("_", " ") for k in keys) + " |")
    lines.append("| " + " | ".join("---:" if _numeric(rows, k) else "---" for k in keys) + " |")
    lines += ["| " + " | ".join(cell(row.get(k)) for k in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _numeric(rows: list[dict[str, Any]], key: str) -> bool:
    return any(isinstance(row.get(key), int | float) for row in rows)


def main() -> None:
    document = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    out = [f"Command: `{document['command']}`; machine: {document['machine']}", ""]
    out += [section_markdown(section) for section in document["sections"]]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
