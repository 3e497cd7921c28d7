"""What the benchmark scripts share: Markdown tables and their cells (numbers, mean ± std,
durations), progress lines and bars, and the machine and library versions that a results
file records.

Only the standard library is imported here, so that any benchmark (and
``benchmarks.report``, which reads results without running anything) can use it cheaply.
"""

import importlib
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


# -- Markdown tables and their cells -----------------------------------------------------------
def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None
) -> str:
    """A Markdown table of string cells, without a trailing newline.

    ``align`` has one letter per column, ``l`` (left) or ``r`` (right), and writes the
    separator spaced, ``| --- | ---: |``; without it the separator is ``|---|---|`` (no
    alignment). The two spellings are both in committed results files, which stay
    byte-identical when regenerated.

    >>> print(markdown_table(["agent", "score"], [["ppo", "0.7"]], align="lr"))
    | agent | score |
    | --- | ---: |
    | ppo | 0.7 |
    """
    if align is None:
        separator = "|" + "---|" * len(header)
    else:
        if len(align) != len(header) or set(align) - {"l", "r"}:
            raise ValueError(
                f"align={align!r} must have one 'l' or 'r' per column ({len(header)} columns)"
            )
        separator = "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"
    lines = ["| " + " | ".join(header) + " |", separator]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def number_cell(value: Any) -> str:
    """A float with thousands separators and no decimals from 100 up, else 3 significant
    digits; anything else as ``str``.

    >>> [number_cell(v) for v in (101760.3, 2.5213, 0.000612, True, "gpt2")]
    ['101,760', '2.52', '0.000612', 'True', 'gpt2']
    """
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def records_table(records: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table of ``columns`` of each record (a dict per row), the column names as
    the header and each value as :func:`number_cell` writes it."""
    rows = [[number_cell(record[c]) for c in columns] for record in records]
    return markdown_table(columns, rows)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (n - 1) of the values that are not NaN;
    NaN for the standard deviation of one value, and for both of none."""
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return math.nan, math.nan
    std = statistics.stdev(kept) if len(kept) > 1 else math.nan
    return statistics.fmean(kept), std


def mean_std_cell(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` to ``digits`` decimals; the mean alone when the std is NaN (one seed),
    ``—`` when the mean is.

    >>> mean_std_cell(0.5384, 0.0371), mean_std_cell(0.2, math.nan, 1), mean_std_cell(math.nan, 0)
    ('0.538 ± 0.037', '0.2', '—')
    """
    if math.isnan(mean):
        return "—"
    if math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def duration(seconds: float, minutes_from: float = 100.0, minute_digits: int = 1) -> str:
    """Whole seconds below ``minutes_from`` seconds, minutes to ``minute_digits`` decimals
    from there on; ``—`` for NaN.

    >>> duration(42.4), duration(361.0), duration(2340.0, minutes_from=120, minute_digits=0)
    ('42 s', '6.0 min', '39 min')
    """
    if math.isnan(seconds):
        return "—"
    if seconds < minutes_from:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.{minute_digits}f} min"


# -- progress ----------------------------------------------------------------------------------
def progress(message: str) -> None:
    """One progress line, on stderr (stdout is for the tables)."""
    print(message, file=sys.stderr, flush=True)


class _PlainBar:
    """A printed progress bar with ETA, for when tqdm is not installed."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.n, self.postfix = total, desc, 0, ""
        self.start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n
        done = min(self.n / max(self.total, 1), 1.0)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done - elapsed if done > 0 else float("nan")
        bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
        print(
            f"\r{self.desc} [{bar}] {self.n}/{self.total} ETA {eta:.0f}s {self.postfix}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        print(file=sys.stderr, flush=True)


def progress_bar(total: int, desc: str, unit: str) -> Any:
    """A progress bar on stderr with ``update(n)``, ``set_postfix_str(text)`` and
    ``close()``: tqdm's when it is installed, else a plain printed one."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainBar(total, desc)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)


# -- the machine and library versions ----------------------------------------------------------
def processor_name() -> str:
    """The CPU's model name (``platform.processor()``, which is empty on most Linux systems,
    else the ``model name`` of ``/proc/cpuinfo``), else the architecture."""
    name = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if not name and cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return name or platform.machine()


def machine_info() -> dict[str, Any]:
    """The platform, the processor, the CPUs (all, and those this process may use) and the
    Python version."""
    return {
        "machine": platform.platform(),
        "processor": processor_name(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
    }


def library_versions(names: Iterable[str]) -> dict[str, str | None]:
    """``__version__`` of each module (importing it); None for one that is not installed
    or has no ``__version__``."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = getattr(importlib.import_module(name), "__version__", None)
        except ImportError:
            out[name] = None
    return out
