"""A new deck from the starter template: `livedeck new NAME` writes `slides/NAME.md.j2`."""

import json
import re
from pathlib import Path

from .errors import LivedeckError
from .fileio import write_text_atomic
from .paths import Project

DECK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
STARTER = Path(__file__).parent / "templates" / "starter.md.j2"


def new_deck(project: Project, name: str, *, title: str | None = None) -> Path:
    """Write `slides/<name>.md.j2` from the starter; reject a bad name or an existing deck."""
    if not DECK_NAME.match(name):
        raise LivedeckError(
            "invalid-deck-name", f"deck name {name!r} must be lowercase letters, digits and dashes, such as intro-to-moe"
        )
    target = project.slides / f"{name}.md.j2"
    if target.exists():
        raise LivedeckError("deck-exists", f"{project.relative(target)} already exists; choose another name or edit that deck")
    title = title or name.replace("-", " ").capitalize()
    if "\n" in title or "---" in title:
        raise LivedeckError("invalid-deck-name", "the title must be one line without `---`")
    # Plain replacement, not Jinja: the starter's own Jinja is for the new deck to run.
    text = STARTER.read_text(encoding="utf-8").replace("__TITLE__", json.dumps(title)).replace("__HEADING__", title)
    write_text_atomic(target, text)
    return target
