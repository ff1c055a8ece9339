"""The README stays a page for users: short, and every page it points to exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_stays_under_25000_characters():
    assert len(README) < 25_000, f"README.md has {len(README)} characters; move detail to docs/"


def test_the_readme_opens_with_the_two_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_every_local_link_of_the_readme_and_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_every_bench_script_the_readme_names_exists():
    named = set(re.findall(r"bench/[a-z_]+\.py", README))
    assert named, "the README names no benchmark"
    assert sorted(n for n in named if not (ROOT / n).exists()) == []
