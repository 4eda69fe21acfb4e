"""A one-line progress bar for long experiments: step, elapsed time and an estimate of what is left."""

import sys
import time


class Progress:
    """Draws `name [#####.....] step/total label  elapsed, ~left` on stderr, redrawn in place on a terminal."""

    def __init__(self, name: str, stream=None, min_interval: float = 0.2):
        self.name = name
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.last_drawn = 0.0
        self.min_interval = min_interval
        self.drawn = False
        self.label = None
        self.phase_started = self.started

    def update(self, step: int, total: int, label: str = "") -> None:
        now = time.perf_counter()
        if label != self.label:
            # A new phase (say, the second of two trainings) counts its own steps, so its estimate starts afresh.
            self.label = label
            self.phase_started = now
        if now - self.last_drawn < self.min_interval and step < total:
            return
        self.last_drawn = now
        elapsed = now - self.started
        fraction = min(max(step / total, 0.0), 1.0) if total else 0.0
        phase_elapsed = now - self.phase_started
        left = phase_elapsed / fraction - phase_elapsed if fraction > 0 else float("nan")
        width = 24
        filled = int(round(fraction * width))
        bar = "#" * filled + "." * (width - filled)
        estimate = f", ~{left:.0f} s left" if left == left else ""
        line = f"{self.name} [{bar}] {step}/{total} {label}  {elapsed:.0f} s{estimate}"
        if self.stream.isatty():
            self.stream.write("\r\033[K" + line)
        elif step >= total or not self.drawn or step % max(total // 10, 1) == 0:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn and self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()
