"""The peers' virtualenv (bench/.venv-peers, from requirements-peers.txt) and tool versions.

pyinfra, ansible-core and py-spy go into a virtualenv of their own so that they never change
the project's .venv; it is created on first use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS_VENV = BENCH / ".venv-peers"
REQUIREMENTS = BENCH / "requirements-peers.txt"


@dataclass(frozen=True)
class Peers:
    jarvisctl: str
    ansible_playbook: str
    pyinfra: str
    py_spy: str
    jarvisctl_source: str | None = None  # PYTHONPATH for an exported commit, None: the tree
    jarvisctl_version: str = ""


def ensure_peers(venv: Path = PEERS_VENV) -> Peers:
    """The tools' paths, creating the peers' virtualenv when it is missing."""
    binaries = venv / "bin"
    if not (binaries / "pyinfra").exists() or not (binaries / "ansible-playbook").exists():
        print(f"creating {venv} from {REQUIREMENTS.name}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(binaries / "pip"), "install", "--quiet", "-r", str(REQUIREMENTS)]
        subprocess.run(pip, check=True)
    return Peers(
        jarvisctl=str(Path(sys.executable).parent / "jarvisctl"),
        ansible_playbook=str(binaries / "ansible-playbook"),
        pyinfra=str(binaries / "pyinfra"),
        py_spy=str(binaries / "py-spy"),
    )


def project_jarvisctl() -> Peers:
    """Only jarvisctl, the project's .venv's (for what needs no peer: no virtualenv made)."""
    none = "(not installed: jarvisctl only)"
    return Peers(
        jarvisctl=str(Path(sys.executable).parent / "jarvisctl"),
        ansible_playbook=none,
        pyinfra=none,
        py_spy=none,
    )


def use_compiled_python(cache: Path) -> None:
    """Every tool runs from compiled bytecode, as after `pip install`: this machine sets
    PYTHONDONTWRITEBYTECODE, which would leave an editable jarvisctl compiling its modules on
    every start. The .pyc files go to the scratch directory, never into the source tree; the
    warm-up run writes them."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)


def export_jarvisctl(peers: Peers, ref: str, dest: Path) -> Peers:
    """Benchmark jarvisctl as committed at `ref`, not the shared, changing work tree.

    `git archive` copies the package and the shipped catalogue into `dest`; the project's
    .venv (its dependencies) runs it with PYTHONPATH=dest. ref "worktree": the tree as is.
    """
    if ref == "worktree":
        return replace(peers, jarvisctl_version=_tree_version())
    commit = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "jarvisctl", "checks", "remediations"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    where = subprocess.run(
        [sys.executable, "-c", "import jarvisctl; print(jarvisctl.__file__)"],
        env={**os.environ, "PYTHONPATH": str(dest)},
        cwd=dest,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not where.startswith(str(dest)):
        raise RuntimeError(f"the exported jarvisctl is not the one imported: {where}")
    return replace(peers, jarvisctl_source=str(dest), jarvisctl_version=f"commit {commit}")


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _tree_version() -> str:
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "jarvisctl"], check=False
    ).returncode
    return f"work tree at {_git('rev-parse', '--short', 'HEAD')}{' + changes' if dirty else ''}"


def versions(peers: Peers) -> dict[str, str]:
    """Versions of everything measured, and the jarvisctl commit (with `+dirty` if changed)."""

    def first_line(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0]

    return {
        "jarvisctl": peers.jarvisctl_version,
        "ansible-core": first_line([peers.ansible_playbook, "--version"]),
        "pyinfra": first_line([peers.pyinfra, "--version"]),
        "openssh": first_line(["ssh", "-V"]),
        "openssh-server": first_line(["dpkg-query", "-W", "-f", "${Version}", "openssh-server"]),
        "python": sys.version.split()[0],
        "kernel": first_line(["uname", "-r"]),
        "cpus": first_line(["nproc"]),
        "cpu_model": cpu_model(),
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"
