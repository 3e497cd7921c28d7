"""The model cache: a conversion killed mid-way leaves a temporary folder that the next use
removes, while concurrent conversions by live processes still agree."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from textgym import models

ROOT = Path(__file__).resolve().parents[1]
HOST = socket.gethostname()[:64]

# A conversion into argv[1] whose write puts a file in its temporary folder, then hangs.
_HANGING = """
import sys, time
from pathlib import Path
from textgym import models

def write(tmp):
    (tmp / "model.safetensors").write_bytes(b"x" * 2**20)
    (tmp / "written").touch()
    time.sleep(600)

models._write_atomically(Path(sys.argv[1]), write)
"""

# A conversion into argv[1] writing argv[2] as its files; once both conversions are
# mid-way (their marks in the folder argv[3]), it cleans up, then finishes.
_ONE_OF_TWO = """
import sys, time
from pathlib import Path
from textgym import models

target, tag, marks = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def write(tmp):
    (tmp / "model.safetensors").write_text(tag)
    (tmp / "tokenizer.json").write_text(tag)
    (marks / tag).touch()
    deadline = time.time() + 60
    while len(list(marks.iterdir())) < 2:
        assert time.time() < deadline, "the other conversion never started"
        time.sleep(0.05)
    assert models.remove_stale_temporaries(target) == []  # the other one is live
    assert tmp.is_dir()

models._write_atomically(target, write)
"""


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT)


def _folder(parent: Path, name: str, age_s: float = 0.0) -> Path:
    path = parent / name
    path.mkdir()
    (path / "model.safetensors").write_bytes(b"x")
    then = time.time() - age_s
    for p in (path / "model.safetensors", path):
        os.utime(p, (then, then))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _complete_cache(parent: Path) -> Path:
    """A complete cache entry, so that ``smollm2_dir()`` converts nothing, only cleans up."""
    target = parent / "smollm2-135m-instruct-v1"
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"x")
    (target / "tokenizer.json").write_text("{}")
    return target


OLD = 2 * 3600  # seconds: older than models.STALE_TEMP_AGE_S


def test_stale_temporary_folders_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGYM_CACHE", str(tmp_path))
    target = _complete_cache(tmp_path)
    name = target.name
    stale = [
        _folder(tmp_path, f"{name}.tmp-{_dead_pid()}@{HOST}-abcd_123"),  # its process is gone
        _folder(tmp_path, f"{name}.tmp-1@elsewhere-abcd0123", age_s=OLD),  # abandoned
        _folder(tmp_path, f"{name}.k2x9_q0w", age_s=OLD),  # textgym 0.1.0's name, abandoned
    ]
    kept = [
        _folder(tmp_path, f"{name}.tmp-{os.getpid()}@{HOST}-abcd0123"),  # live
        _folder(tmp_path, f"{name}.tmp-1@elsewhere-abcd0124"),  # another host's, young
        _folder(tmp_path, f"{name}.k2x9_q0x"),  # may be a live 0.1.0 conversion
        _folder(tmp_path, "other-model.abcd0123", age_s=OLD),  # not a conversion's
    ]
    (tmp_path / f"{name}.tmp-1@{HOST}-abcd0125").write_text("a file, not a folder")

    assert models.smollm2_dir() == target
    assert [p.name for p in stale if p.exists()] == []
    assert all(p.is_dir() for p in kept) and (target / "model.safetensors").exists()
    assert (tmp_path / f"{name}.tmp-1@{HOST}-abcd0125").is_file()
    assert models.remove_stale_temporaries(target) == []  # nothing left to do
    assert models.STALE_TEMP_AGE_S < OLD


def test_a_conversion_killed_mid_way_is_cleaned_up_by_the_next_use(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGYM_CACHE", str(tmp_path))
    proc = _python(_HANGING, str(tmp_path / "smollm2-135m-instruct-v1"))
    deadline = time.time() + 60
    while not any((p / "written").exists() for p in tmp_path.glob("*.tmp-*")):
        assert time.time() < deadline and proc.poll() is None, "the conversion did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up after itself
    proc.wait()
    (killed,) = tmp_path.glob("*.tmp-*")
    assert killed.name.startswith(f"smollm2-135m-instruct-v1.tmp-{proc.pid}@{HOST}-")
    target = _complete_cache(tmp_path)  # say another process finished meanwhile
    assert models.smollm2_dir() == target
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_concurrent_conversions_agree(tmp_path):
    target, marks = tmp_path / "cache" / "smollm2-135m-instruct-v1", tmp_path / "marks"
    marks.mkdir()
    procs = [_python(_ONE_OF_TWO, str(target), tag, str(marks)) for tag in ("first", "second")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    model = (target / "model.safetensors").read_text()
    assert model in ("first", "second") and (target / "tokenizer.json").read_text() == model
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporaries
