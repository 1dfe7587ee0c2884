"""Rewrite each example's schemas/ and .vscode/settings.json from the models (after a spec model changes)."""

from __future__ import annotations

from pathlib import Path

from modelplane.templates.scaffold import editor_files

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    for project in sorted((ROOT / "examples").glob("*/modelplane.yaml")):
        for rel, text in editor_files().items():
            target = project.parent / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
