"""The models package stands on its own: it imports nothing of the server, and its contract
with the server (tokens, parity, scaling) loads without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import archsampler_models

PACKAGE = Path(archsampler_models.__file__).parent


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_of_the_models_imports_the_server_or_the_client() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 7
    offending = {
        f.name: sorted(imported_roots(f) & {"archsampler", "archsampler_client"}) for f in files
    }
    assert {name: roots for name, roots in offending.items() if roots} == {}


def test_the_contract_loads_without_torch_or_the_server() -> None:
    code = (
        "import sys; import archsampler_models.tokens, archsampler_models.parity, "
        "archsampler_models.scaling; "
        "print(sorted(m for m in ('torch', 'archsampler') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_server_uses_the_models_contract_classes() -> None:
    from archsampler.predictor import parity
    from archsampler.spaces.base import TokenSpec

    assert TokenSpec is archsampler_models.tokens.TokenSpec
    assert parity.ParityError is archsampler_models.parity.ParityError
