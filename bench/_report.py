"""Shared by the bench scripts: put one "## Title" section into docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nMachine: 2 cores (Intel Xeon, virtualised), no GPU, shared with other jobs, "
    "so timings are noisy. Every number comes from `make bench` (`bench/run_all.py --write`).\n"
)


def write_section(section: str, docs: Path = DOCS) -> None:
    """Replace the section whose first line is ``section``'s "## Title" line, or append it.

    Sections are separated by one blank line, so tables never run into the next heading.
    """
    title = section.lstrip("\n").splitlines()[0]
    if not title.startswith("## "):
        raise ValueError(f"section must start with a '## ' heading, found {title!r}")
    text = docs.read_text() if docs.exists() else HEADER
    body = section.strip("\n") + "\n"
    start = text.find(f"\n{title}\n")
    if start == -1:
        docs.write_text(text.rstrip("\n") + "\n\n" + body)
        return
    end = text.find("\n## ", start + 1)
    rest = text[end + 1 :] if end != -1 else ""
    docs.write_text(text[: start + 1] + body + ("\n" + rest if rest else ""))
