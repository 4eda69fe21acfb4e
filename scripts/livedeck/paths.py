"""Locations of the project's inputs and outputs, relative to the repository root."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Project:
    """The folders of one livedeck project; every path the tool touches derives from `root`."""

    root: Path

    @property
    def slides(self) -> Path:
        return self.root / "slides"

    @property
    def theme(self) -> Path:
        return self.root / "theme"

    @property
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def experiments(self) -> Path:
        return self.root / "experiments"

    @property
    def results(self) -> Path:
        return self.experiments / "results"

    @property
    def published(self) -> Path:
        return self.experiments / "published.yaml"

    @property
    def params(self) -> Path:
        return self.experiments / "params.yaml"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def state(self) -> Path:
        return self.build / ".state"

    def decks(self) -> list[str]:
        """Return the deck names, one per `slides/<deck>.md.j2`, sorted."""
        return sorted(p.name[: -len(".md.j2")] for p in self.slides.glob("*.md.j2"))

    def relative(self, path: Path) -> str:
        """Return `path` relative to the root when it lies inside it, for messages."""
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def find_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above `start` that contains a `slides/` folder and a pyproject.toml."""
    start_folder = (start or Path.cwd()).resolve()
    for folder in [start_folder, *start_folder.parents]:
        if (folder / "slides").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    return start_folder
