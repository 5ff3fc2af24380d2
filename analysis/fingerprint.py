"""Fingerprints of code and files: what decides whether a stage or a cache entry is still current.

The code a stage (or a cache) depends on is computed, never listed: the modules of this package that its
notebook or module imports, followed transitively through every ``import`` statement in them (including
imports inside functions), plus the files of ``analysis/data`` that those modules load. A module that
loads package data declares it in a module-level tuple of names relative to ``analysis/data``, read
here from its syntax tree (the module is not imported)::

    DATA_FILES = ("actors.yaml",)

A file that a module merely names (a default path in the parameters, say) does not count. Changing any
of these files, even by a comment, changes the fingerprint.

>>> "analysis/accel.py" in code_files(["analysis.embeddings"])
True
>>> "analysis/report.py" in code_files(["analysis.corpus"])
False
>>> "analysis/data/actors.yaml" in code_files(["analysis.actors"])
True
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from analysis import config
from analysis.errors import AnalysisError

__all__ = ["code_files", "code_hash", "data_files", "notebook_code", "notebook_imports", "file_sha256", "files_digest", "digest"]

_PACKAGE = "analysis"
# the module-level name under which a module lists the files of analysis/data it loads
_DECLARATION = "DATA_FILES"


def digest(*parts: object) -> str:
    """Hex sha256 of ``parts`` as canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@cache
def _cached_sha(path: str, *stamp: int) -> str:
    return file_sha256(Path(path))


def _stamp(path: Path) -> tuple[int, int, int, int]:
    """What changes when a file is written: a cache key of its content within one process."""
    st = path.stat()
    return st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size


def _sha(path: Path) -> str:
    return _cached_sha(str(path), *_stamp(path))


def _module_file(name: str) -> Path | None:
    """The source file of ``analysis[.x[.y]]``, or None when ``name`` is not a module of the package."""
    parts = name.split(".")
    if parts[0] != _PACKAGE:
        return None
    base = config.PACKAGE_DIR.joinpath(*parts[1:])
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names of the package's modules that ``tree`` (the source of ``module``) imports anywhere."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:                       # relative: against this module's package
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)   # ``from analysis import topics``
    out = set()
    for name in found:
        if name.split(".")[0] != _PACKAGE:
            continue
        parts = name.split(".")
        # importing a.b.c runs a/__init__ and a/b/__init__ too
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {n for n in out if _module_file(n) is not None}


def _closure(roots: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    todo = [r for r in roots if _module_file(r) is not None] + [_PACKAGE]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        f = _module_file(name)
        todo.extend(_file_facts(str(f), _stamp(f), name)[0] - seen)
    return sorted(seen)


def _declared_data(tree: ast.Module, path: str) -> tuple[str, ...]:
    """The names a module's top-level ``DATA_FILES = (...)`` lists (``()`` without one).

    Raises:
        AnalysisError: ``DATA_FILES`` is not a literal tuple (or list) of non-empty strings.
    """
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if not any(isinstance(t, ast.Name) and t.id == _DECLARATION for t in targets) or node.value is None:
            continue
        try:
            names = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError):
            names = None
        if not isinstance(names, tuple | list) or not all(isinstance(n, str) and n for n in names):
            raise AnalysisError(f"{path}:{node.lineno}: {_DECLARATION} must be a literal tuple of file names "
                                f"relative to analysis/data, e.g. {_DECLARATION} = (\"name.yaml\",)")
        return tuple(names)
    return ()


@cache
def _file_facts(path: str, stamp: tuple, module: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The package modules a source file imports and the data files it declares (parsed once per version)."""
    tree = ast.parse(Path(path).read_bytes(), filename=path)
    return frozenset(_imports(tree, module, path.endswith("__init__.py"))), _declared_data(tree, path)


def data_files(module: str) -> tuple[str, ...]:
    """The files of ``analysis/data`` that ``module`` declares it loads (its ``DATA_FILES``), by name.

    >>> data_files("analysis.targeted")
    ('targeted_model.safetensors',)
    """
    f = _module_file(module)
    return () if f is None else _file_facts(str(f), _stamp(f), module)[1]


def code_files(modules: Iterable[str]) -> dict[str, str]:
    """The files ``modules`` depend on, relative to the project root, with their sha256.

    The transitive closure of the package's modules they import, plus the files of ``analysis/data``
    that one of those modules declares it loads (:func:`data_files`); a declared file that does not
    exist is left out (the module that loads it says so when it runs).
    """
    closure = _closure(modules)
    files = [_module_file(m) for m in closure]
    data = {config.PACKAGE_DATA_DIR / name for m in closure for name in data_files(m)}
    return {str(f.relative_to(config.PROJECT_ROOT)): _sha(f)
            for f in sorted(files) + sorted(d for d in data if d.is_file())}


def notebook_code(notebook: Path) -> list[str]:
    """The sources of a notebook's code cells (read as JSON: nbformat takes seconds to import)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    return [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def notebook_imports(notebook: Path) -> list[str]:
    """The package modules a notebook's code cells import (IPython magics and shell lines ignored)."""
    found: set[str] = set()
    for source in notebook_code(notebook):
        src = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        found |= _imports(tree, "__notebook__", False)
    return sorted(found)


@cache
def _ast_sha(path: str, *stamp: int) -> str:
    return hashlib.sha256(ast.dump(ast.parse(Path(path).read_bytes())).encode()).hexdigest()


def code_hash(modules: Iterable[str]) -> str:
    """One sha256 over the code of :func:`code_files` of ``modules``, for cache keys.

    Python files count by their syntax tree, so an edit to a comment or to the layout does not make
    cached numbers stale, while any change to what the code does (or to a data file) does.
    """
    parts = {}
    for rel, sha in code_files(modules).items():
        path = config.PROJECT_ROOT / rel
        parts[rel] = _ast_sha(str(path), *_stamp(path)) if rel.endswith(".py") else sha
    return digest(parts)


def files_digest(paths: Iterable[Path | None]) -> dict[str, str]:
    """sha256 of each existing file of ``paths``, by path (relative to the project when inside it)."""
    out = {}
    for p in paths:
        if p is not None and p.is_file():
            rel = p.resolve().relative_to(config.PROJECT_ROOT) if p.resolve().is_relative_to(config.PROJECT_ROOT) else p
            out[str(rel)] = _sha(p)
    return out
