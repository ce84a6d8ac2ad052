"""A module's private names (a leading underscore) stay in it: no module of the product
imports another's. What two modules share is public, named for what it does."""

from __future__ import annotations

import ast

from tests.conftest import product_sources


def private_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
    return found


def test_the_guard_sees_a_private_import() -> None:
    assert private_imports("from a.b import c, _d\nfrom e import __version__") == [
        "1: from a.b import _d"
    ]


def test_no_private_name_is_imported_across_modules() -> None:
    offenders = [
        f"{name}:{hit}" for name, source in product_sources() for hit in private_imports(source)
    ]
    assert offenders == []
