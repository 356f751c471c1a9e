"""`mcalc check` where it runs in practice: a throwaway git repository that uses
mcalc's own pre-commit hook (.pre-commit-hooks.yaml, installed by pre-commit
from this working tree), with a README that *mentions* the annotation syntax,
claims in every suffix the hook covers, and a wrong claim that must block."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pre_commit() -> list[str] | None:
    found = shutil.which("pre-commit", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                             os.environ.get("PATH", "")]))
    return [found] if found else None


pytestmark = pytest.mark.skipif(_pre_commit() is None or shutil.which("git") is None,
                                reason="pre-commit (pip install pre-commit) and git are needed")

FILES = {
    "README.md": (
        "# A project\n\nAnnotate a claim as `<!-- mcalc: d/dx (x) = 5 -->`, e.g.:\n\n"
        "```markdown\n<!-- mcalc: d/dw (w · x) = x where w, x: vector -->\n```\n\n"
        "<!-- mcalc: d/dx (x^2) = 2x -->\n"),
    "paper.tex": ("\\begin{verbatim}\n% mcalc: d/dx (x) = 7\n\\end{verbatim}\n"
                  "% mcalc: where w, x: vector\n\\[ \\frac{\\partial}{\\partial \\mathbf{w}} "
                  "\\mathbf{w} \\cdot \\mathbf{x} = \\mathbf{x}^{T} \\]\n"),
    "notes.markdown": "<!-- mcalc: d/dx (sin(x)) = cos(x) -->\n",
    "chapter.ltx": "% mcalc: d/dx (x^3) = 3x^2\n",
    "more.latex": "% mcalc: d/dx (exp(x)) = exp(x)\n",
    "claims.toml": '[[claim]]\nid = "dot"\nexpr = "w · x"\nwrt = "w"\nexpect = "x^T"\nwhere = "w, x: vector"\n',
    "pyproject.toml": "[project]\nname = 'demo'\n",  # no claims: allowed
    "simple.mcalc": "d/dx (x^4) = 4x^3\n",
}


def git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def test_the_hook_in_a_throwaway_repository(tmp_path):
    # The hook repository: this working tree as it is now, committed in a copy.
    hooks = tmp_path / "mcalc-src"
    shutil.copytree(ROOT, hooks, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info",
                                                               ".pytest_cache", ".hypothesis", "build", "dist"))
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "mcalc"], ["tag", "v0"]):
        assert git(hooks, *step).returncode == 0
    repo = tmp_path / "project"
    repo.mkdir()
    assert git(repo, "init", "-q").returncode == 0
    for name, text in FILES.items():
        (repo / name).write_text(text, encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks}\n    rev: v0\n    hooks:\n      - id: mcalc-check\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def run_hooks() -> subprocess.CompletedProcess:
        return subprocess.run([*_pre_commit(), "run", "--all-files", "--verbose"], cwd=repo, capture_output=True,
                              text=True, timeout=900, env=env)

    assert git(repo, "add", "-A").returncode == 0
    r = run_hooks()
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    # One run over every file (require_serial), every claim found once, none from code or verbatim.
    assert out.count("passed, 0 failed") == 1 and "7 passed, 0 failed, 0 inconclusive" in out, out
    for name in ("README.md:9", "paper.tex:5", "notes.markdown:1", "chapter.ltx:1", "more.latex:1",
                 "claims.toml:2", "simple.mcalc:1"):
        assert f"{name}: pass" in out, (name, out)
    # A wrong claim blocks the commit and names its line.
    (repo / "chapter.ltx").write_text("% mcalc: d/dx (x^3) = 3x\n")
    assert git(repo, "add", "-A").returncode == 0
    r = run_hooks()
    assert r.returncode == 1 and "chapter.ltx:1: FAIL" in r.stdout, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
