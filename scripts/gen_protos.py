"""Regenerate the committed protobuf/gRPC stubs from `protos/` into the client package.

Usage: python scripts/gen_protos.py [--check]

The stubs live in `clients/archsampler_client/_proto/` so that both the client SDK and the
server import one copy. Imports are rewritten to that package. `--check` fails when the
committed files differ from freshly generated ones (CI runs it).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
OUT = ROOT / "clients" / "archsampler_client" / "_proto"
PACKAGE = "archsampler_client._proto"


def generate(dest: Path) -> None:
    include = Path(protoc.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTOS}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *sources,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "__init__.py").write_text('"""Generated protobuf/gRPC stubs. Do not edit."""\n')
        for path in sorted(Path(tmp).rglob("*.py*")):
            text = re.sub(
                r"^from archsampler\.v1 import",
                f"from {PACKAGE} import",
                path.read_text(),
                flags=re.M,
            )
            (dest / path.name).write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    if not args.check:
        shutil.rmtree(OUT, ignore_errors=True)
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "_proto"
        generate(fresh)
        stale = [
            p.name
            for p in sorted(fresh.iterdir())
            if not (OUT / p.name).is_file() or (OUT / p.name).read_text() != p.read_text()
        ]
        extra = sorted({p.name for p in OUT.glob("*.py*")} - {p.name for p in fresh.iterdir()})
        if stale or extra:
            print(
                f"generated stubs are stale: {stale + extra}; run scripts/gen_protos.py",
                file=sys.stderr,
            )
            return 1
    print("generated stubs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
