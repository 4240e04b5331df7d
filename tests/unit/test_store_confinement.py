"""SQL, sqlite3 and SQLite's dialect live in jarvisctl/store/sqlite/ only: every other module
speaks to the store through its protocols (jarvisctl/store/*.py), so that another database is a
new folder beside sqlite/, not an edit everywhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "jarvisctl"
SQLITE = PACKAGE / "store" / "sqlite"
# the dialect, and SQL statements, as they would be written in a query string
DIALECT = re.compile(
    r"INSERT OR (REPLACE|IGNORE)|BEGIN (IMMEDIATE|EXCLUSIVE)|PRAGMA|SELECT .+ FROM|"
    r"INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX)|sqlite_master",
    re.DOTALL,
)


def offences(path: Path) -> list[str]:
    """What in `path` belongs in store/sqlite only: sqlite3 imported (at any depth, or by
    name through importlib), or a string with SQL or SQLite's dialect."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value == "sqlite3":
                names = ["sqlite3"]  # importlib.import_module("sqlite3"), __import__
            elif DIALECT.search(node.value):
                found.append(f"line {node.lineno}: SQL {DIALECT.search(node.value)!r}")
        found += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] == "sqlite3"]
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_sql_and_no_sqlite3_outside_store_sqlite() -> None:
    outside = [p for p in modules() if SQLITE not in p.parents]
    assert len(outside) > 100  # the walk sees the package
    problems = {
        str(p.relative_to(PACKAGE.parent)): found for p in outside if (found := offences(p))
    }
    assert problems == {}


def test_the_walk_finds_what_store_sqlite_holds() -> None:
    """The same walk, over store/sqlite, finds its imports and its dialect: the check above
    cannot pass by seeing nothing."""
    inside = {p.name: offences(p) for p in modules() if SQLITE in p.parents}
    assert any("imports sqlite3" in o for o in inside["statefile.py"])
    assert any("PRAGMA" in o for o in inside["database.py"])
    assert any("'INSERT OR REPLACE'" in o for o in inside["checks.py"])
    assert any("'BEGIN IMMEDIATE'" in o for o in inside["schema.py"])


def test_the_walk_sees_a_lazy_import_and_a_query(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import importlib\n"
        "def f():\n"
        "    import sqlite3.dbapi2\n"
        "    from sqlite3 import connect\n"
        "    importlib.import_module('sqlite3')\n"
        "    return 'UPDATE run_index SET status = ?'\n"
    )
    lines = sorted(o.split(":")[0] for o in offences(sample))
    assert lines == ["line 3", "line 4", "line 5", "line 6"]
