"""Every MLflow call goes through one adapter (retention.model.registry; the pyfunc wrapper
is MLflow's own extension point): no other module imports MLflow."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "retention"
ADAPTER = {"model/registry.py", "model/pyfunc.py"}


def _imports_mlflow(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "mlflow" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlflow":
            return True
    return False


def test_only_the_registry_adapter_imports_mlflow() -> None:
    modules = sorted(SRC.rglob("*.py"))
    importing = {str(p.relative_to(SRC)) for p in modules if _imports_mlflow(p)}
    assert len(modules) > 50
    assert "model/registry.py" in importing  # the check can see an import
    assert importing <= ADAPTER, importing - ADAPTER
