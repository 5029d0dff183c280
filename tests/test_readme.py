"""The documentation cannot rot: its code blocks are executed.

- Every ```python block of README.md and docs/*.md runs, in order, in one namespace per
  file and in a fresh temporary directory, unless the line before its fence is
  ``<!-- test: skip -->`` (say why next to it, e.g. GPU-only code).  A block marked
  ``<!-- test: slow -->`` (self-contained: later blocks must not need it) runs only in
  the slow run (``-m slow``), e.g. a RowLoss example, whose drivers every process compiles.
- A ```bash block preceded by ``<!-- test: run -->`` is run too: each of its lines that
  starts with ``fastgd `` or ``python -m fastgd`` must exit with status 0.
"""
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(\w*)\s*$")
OPTIONAL = ("dask", "distributed", "torch", "jax", "cupy")  # peers a doc may use


def missing_peer(code):
    """The first optional package the code imports unconditionally (at the top level, not
    inside a try) that is not installed, or None."""
    for name in OPTIONAL:
        if re.search(rf"^(import|from) {name}\b", code, re.M) and \
                importlib.util.find_spec(name) is None:
            return name
    return None


def code_blocks(path):
    """[(language, first line number, code, marker)] of a Markdown file."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            prev = lines[i - 1].strip() if i > 0 else ""
            marker = prev[len("<!-- test:"):-3].strip() if prev.startswith("<!-- test:") else ""
            blocks.append((m.group(1), i + 2, "\n".join(lines[i + 1:j]) + "\n", marker))
            i = j
        i += 1
    return blocks


def test_block_extraction(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("text\n```python\na = 1\n```\n<!-- test: skip (gpu) -->\n```python\n"
                   "b = 2\n```\n<!-- test: run -->\n```bash\nfastgd --help\n```\n")
    assert code_blocks(doc) == [("python", 3, "a = 1\n", ""),
                                ("python", 7, "b = 2\n", "skip (gpu)"),
                                ("bash", 11, "fastgd --help\n", "run")]


def _commands(code):
    for line in code.splitlines():
        line = line.strip()
        if line.startswith("fastgd "):
            yield [sys.executable, "-m", "fastgd"] + shlex.split(line)[1:]
        elif line.startswith("python -m fastgd"):
            yield [sys.executable] + shlex.split(line)[1:]


def _has_slow_blocks(path):
    return any(marker.startswith("slow") for _, _, _, marker in code_blocks(path))


@pytest.mark.parametrize("doc", [p for p in DOCS if p.exists()], ids=lambda p: p.name)
def test_doc_code_blocks_run(doc, tmp_path, monkeypatch):
    _run_doc(doc, tmp_path, monkeypatch, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("doc", [p for p in DOCS if p.exists() and _has_slow_blocks(p)],
                         ids=lambda p: p.name)
def test_doc_code_blocks_run_with_slow_ones(doc, tmp_path, monkeypatch):
    _run_doc(doc, tmp_path, monkeypatch, slow=True)


def _run_doc(doc, tmp_path, monkeypatch, slow):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "")
                                                      .split(os.pathsep) if p])
    namespace = {"__name__": f"doc_{doc.stem}"}
    ran = 0
    for lang, line, code, marker in code_blocks(doc):
        if marker.startswith("skip") or (marker.startswith("slow") and not slow):
            continue
        where = f"{doc.name}, block at line {line}"
        if lang == "python" and missing_peer(code):
            # a doc's later blocks build on its earlier ones: skip the rest of the doc
            pytest.skip(f"{where} needs {missing_peer(code)} (the test-peers extra)")
        if lang == "python":
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as e:
                pytest.fail(f"{where} raised {type(e).__name__}: {e}")
            ran += 1
        elif lang in ("bash", "sh", "console") and marker == "run":
            for cmd in _commands(code):
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
                assert out.returncode == 0, f"{where}: {cmd[2:]} -> {out.returncode}\n{out.stderr}"
                ran += 1
    if doc.name == "README.md":
        assert ran > 0, "README.md has no executed code block"
