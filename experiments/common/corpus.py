"""A mixed byte corpus of three domains that a full CPython install can build offline.

- "code": Python source of the standard library's public top-level modules.
- "prose": the English text of the Python language reference that pydoc ships in
  `pydoc_data.topics`.
- "arithmetic": lines such as "417 + 86 = 503", generated from a seeded RNG.

Each domain is cut to the same number of bytes and split into a training part and a held-out
tail. The split falls at a byte offset, so the held-out code and prose come from modules and
reference topics that the training part does not contain (except the one file or topic that
straddles the cut).
"""

import random
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

DOMAINS = ("code", "prose", "arithmetic")


@dataclass(frozen=True)
class Domain:
    """One domain's text as bytes, already split into training and held-out parts."""

    name: str
    source: str  # where the text came from, short enough for a slide footnote
    train: bytes
    heldout: bytes


def stdlib_source(n_bytes: int) -> tuple[bytes, str]:
    """Return the first `n_bytes` of the standard library's public modules and a description.

    Modules are the top-level `*.py` files of the stdlib directory whose names do not start with
    an underscore, read in sorted name order. Private modules are skipped because the sorted list
    starts with them and one of them (`_pydecimal.py`) would fill most of a small budget alone.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(path for path in stdlib.glob("*.py") if not path.name.startswith("_"))
    if not files:
        raise FileNotFoundError(
            f"no standard library modules found in {stdlib}; the code domain needs the stdlib "
            "*.py source files (Debian: install libpython3-stdlib)"
        )

    chunks, total, used = [], 0, []
    for path in files:
        if total >= n_bytes:
            break
        data = path.read_bytes()
        chunks.append(data)
        used.append(path.name)
        total += len(data)
    if total < n_bytes:
        raise ValueError(
            f"the stdlib modules in {stdlib} contain {total} bytes, fewer than the {n_bytes} requested; "
            "lower corpus_bytes_per_domain"
        )

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    source = f"Python {version} standard library source ({used[0]} to {used[-1]}, {len(used)} modules)"
    return b"".join(chunks)[:n_bytes], source


def language_reference_prose(n_bytes: int) -> tuple[bytes, str]:
    """Return the first `n_bytes` of the language reference text in `pydoc_data.topics`.

    Topics are joined in sorted key order with a blank line between them. The text is mostly
    English, with grammar rules and short code examples in between.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as error:
        raise FileNotFoundError(
            "the prose domain reads the language reference from pydoc_data.topics, which this "
            f"Python install lacks ({error}); install the full standard library "
            "(Debian: libpython3-stdlib) or use a Python build that includes pydoc_data"
        ) from error

    text = "\n\n".join(topics[key] for key in sorted(topics)).encode("utf-8")
    if len(text) < n_bytes:
        raise ValueError(
            f"pydoc_data.topics contains {len(text)} bytes, fewer than the {n_bytes} requested; "
            "lower corpus_bytes_per_domain"
        )

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    source = f"Python {version} language reference text (pydoc_data.topics)"
    return text[:n_bytes], source


def arithmetic_text(n_bytes: int, seed: int) -> tuple[bytes, str]:
    """Return `n_bytes` of generated sums, differences and products, one per line.

    Sums and differences take operands up to 999. Products take operands up to 99, so that
    all three kinds of line have about the same length.
    """
    rng = random.Random(seed)
    lines, total = [], 0
    while total < n_bytes:
        op = rng.choice("+-*")
        high = 99 if op == "*" else 999
        a, b = rng.randint(0, high), rng.randint(0, high)
        result = {"+": a + b, "-": a - b, "*": a * b}[op]
        line = f"{a} {op} {b} = {result}\n"
        lines.append(line)
        total += len(line)

    source = f"generated arithmetic (+, -, *), random.Random({seed})"
    return "".join(lines).encode("ascii")[:n_bytes], source


def load_corpus(bytes_per_domain: int, heldout_fraction: float, seed: int) -> list[Domain]:
    """Build the three domains in the order of DOMAINS, each cut to `bytes_per_domain` bytes.

    The last `heldout_fraction` of each domain's bytes is held out.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")

    texts = {
        "code": stdlib_source(bytes_per_domain),
        "prose": language_reference_prose(bytes_per_domain),
        "arithmetic": arithmetic_text(bytes_per_domain, seed),
    }
    cut = round(bytes_per_domain * (1.0 - heldout_fraction))
    return [Domain(name, texts[name][1], texts[name][0][:cut], texts[name][0][cut:]) for name in DOMAINS]
