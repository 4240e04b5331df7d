"""jarvisctl as a user installs it, for one git ref: a wheel built from the commit, installed into
a virtualenv of its own with its bytecode compiled, as `pip install` leaves it.

Each ref's tree is exported with `git archive` (never the shared, changing work tree), built
with `pip wheel` (the build backend from the package index, as any user's build), and installed
with the dependency versions of the project's .venv as constraints, so that two refs compared
differ in jarvisctl's own code only. This machine sets PYTHONDONTWRITEBYTECODE, which would leave
the modules uncompiled; `compileall` writes every .pyc at install time instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What a run must not inherit from this process: it would run another jarvisctl, or read and
# write its bytecode elsewhere than the install's own __pycache__ directories.
_FOREIGN = ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE", "PYTHONHOME")


@dataclass(frozen=True)
class Install:
    name: str  # "base" or "head"
    ref: str  # as given
    commit: str  # short hash
    subject: str
    venv: Path

    @property
    def jarvisctl(self) -> str:
        return str(self.venv / "bin" / "jarvisctl")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")


def run_environment() -> dict[str, str]:
    """This process's environment without what would redirect the installed jarvisctl."""
    return {k: v for k, v in os.environ.items() if k not in _FOREIGN}


def install_ref(name: str, ref: str, work: Path, constraints: Path) -> Install:
    """Build `ref`'s wheel and install it into `work/venv-NAME`; verify which copy runs."""
    commit = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    source, wheels, venv = work / f"src-{name}", work / f"wheels-{name}", work / f"venv-{name}"
    _export(commit, source)
    _quiet([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(source)])
    (wheel,) = wheels.glob("jarvisctl-*.whl")
    _quiet([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "pip"), "install", "-c", str(constraints), str(wheel)]
    _quiet(pip, env=run_environment())
    site = _site_packages(venv)
    compile_all = [str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", str(site)]
    _quiet(compile_all, env=run_environment())
    install = Install(name, ref, commit, _git("log", "-1", "--format=%s", commit), venv)
    _check(install, site)
    return install


def write_constraints(path: Path) -> Path:
    """The project's .venv's versions of everything but jarvisctl, as pip constraints."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude", "jarvisctl", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path.write_text("".join(f"{line}\n" for line in frozen.splitlines() if "==" in line))
    return path


def _export(commit: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def _site_packages(venv: Path) -> Path:
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return site


def _check(install: Install, site: Path) -> None:
    """The venv's jarvisctl is the installed wheel's, compiled, and starts."""
    where = subprocess.run(
        [install.python, "-c", "import jarvisctl; print(jarvisctl.__file__)"],
        env=run_environment(),
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not where.startswith(str(site)):
        raise RuntimeError(f"{install.name}: the venv imports jarvisctl from {where}")
    package = site / "jarvisctl"
    sources = list(package.rglob("*.py"))
    compiled = list(package.rglob("__pycache__/*.pyc"))
    if len(compiled) < len(sources):
        raise RuntimeError(f"{install.name}: {len(compiled)} .pyc for {len(sources)} modules")
    _quiet([install.jarvisctl, "--version"], env=run_environment())


def _quiet(argv: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()
