"""Regenerate the committed protobuf/gRPC stubs from `protos/` into the client package.

Usage: python scripts/gen_protos.py [--check]

The stubs live in `clients/archsampler_client/proto/` so that both the client SDK and the
server import one copy. `--check` fails when the committed files differ from freshly
generated ones (CI runs it through tests/test_repo_hygiene.py).

The client supports protobuf 4.21.6 - 7.x and grpcio >= 1.51.3. protobuf supports generated
code of major version V on runtimes V and V+1 only, and never on a runtime older than the
protoc that wrote it, so no single protoc serves that whole range. Two generators, pinned
here, write two copies of `archsampler_pb2`; `proto/archsampler_pb2.py` re-exports the copy
that suits the installed runtime:

  _protobuf4/  grpcio-tools 1.51.3 = protoc 3.21.6, gencode 4.21.6: protobuf 4.21.6 - 5.x
  _protobuf6/  grpcio-tools 1.72.1 = protoc 30.0,   gencode 6.30.0: protobuf 6.30.0 - 7.x

`archsampler_pb2_grpc.py` comes from the older generator: it has no import-time grpcio
version check (newer ones demand grpcio >= their own version) and runs on any grpcio since.
The type stub `archsampler_pb2.pyi` comes from the newer one.

Katib's suggestion API (`protos/katib/v1beta1/api.proto`, vendored from kubeflow/katib) is
generated the same way, with both generators, into `service/archsampler/katib/_proto/`
(`api_pb2.py` selects the copy; `api_pb2_grpc.py` from 1.51.3): only the server imports it.

The pinned grpcio-tools wheels are fetched with pip (no dependencies) into
`build/gen_protos/` once and run in a subprocess, so the dev environment's own grpcio-tools
and protobuf play no part. grpcio-tools 1.51.3 has wheels for CPython 3.7 - 3.11 only: run
this script with a Python 3.11. Exit status 3 means a generator could not be fetched or run.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
OUT = ROOT / "clients" / "archsampler_client" / "proto"
PACKAGE = "archsampler_client.proto"
KATIB_SOURCE = "katib/v1beta1/api.proto"  # under PROTOS; generated apart from the rest
KATIB_OUT = ROOT / "service" / "archsampler" / "katib" / "_proto"
KATIB_PACKAGE = "archsampler.katib._proto"
TOOLS = ROOT / "build" / "gen_protos"

# stub set (a subpackage of PACKAGE) -> (grpcio-tools version, protobuf runtimes it serves)
GENERATORS = {
    "_protobuf4": ("1.51.3", "4.21.6 <= protobuf < 6"),
    "_protobuf6": ("1.72.1", "6.30.0 <= protobuf < 8"),
}
GRPC_FROM = "_protobuf4"  # archsampler_pb2_grpc.py
PYI_FROM = "_protobuf6"  # archsampler_pb2.pyi

UNAVAILABLE = 3

_RUN_PROTOC = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from grpc_tools import _protoc_compiler as c; "
    "sys.exit(c.run_main([a.encode() for a in sys.argv[2:]]))"
)

SELECTOR = '''\
"""Generated protobuf module for {source}. Do not edit.

Written by scripts/gen_protos.py: re-exports the generated copy that suits the installed
protobuf runtime (protobuf supports gencode of major V on runtimes V and V+1).
{table}
"""

from google.protobuf import __version__ as _runtime

_major = int(_runtime.split(".")[0])
if _major < 6:
    from {package}._protobuf4.{module} import *  # noqa: F403
elif _major < 8:
    from {package}._protobuf6.{module} import *  # noqa: F403
else:
    raise ImportError(
        f"{owner} supports protobuf 4.21.6 - 7.x; protobuf {{_runtime}} is installed"
    )
'''


class GeneratorUnavailable(Exception):
    """A pinned grpcio-tools could not be fetched or run on this interpreter."""


def _tool(version: str) -> Path:
    """The unpacked grpcio-tools wheel `version` for this interpreter (fetched once)."""
    dest = TOOLS / f"grpcio-tools-{version}-{sys.implementation.cache_tag}"
    if (dest / "grpc_tools").is_dir():
        return dest
    TOOLS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=TOOLS) as tmp:
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps",
             "--only-binary=:all:", "--dest", tmp, f"grpcio-tools=={version}"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        wheels = list(Path(tmp).glob("grpcio_tools-*.whl"))
        if fetched.returncode != 0 or len(wheels) != 1:
            raise GeneratorUnavailable(
                f"cannot fetch grpcio-tools=={version} for {sys.implementation.cache_tag} "
                f"(it needs PyPI, and 1.51.3 has wheels for CPython <= 3.11 only): "
                f"{fetched.stderr.strip()[-500:]}"
            )
        staging = Path(tmp) / "unpacked"
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(staging)
        staging.rename(dest)
    return dest


def _protoc(version: str, out: Path, sources: list[str] | None = None) -> None:
    """Run protoc (python, pyi and grpc_python outputs) of grpcio-tools `version` into `out`,
    on `sources` (paths under PROTOS; default: every proto but Katib's)."""
    tool = _tool(version)
    include = tool / "grpc_tools" / "_proto"
    if sources is None:
        sources = sorted(
            str(p.relative_to(PROTOS))
            for p in PROTOS.rglob("*.proto")
            if not str(p.relative_to(PROTOS)).startswith("katib/")
        )
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    ran = subprocess.run(
        [sys.executable, "-I", "-c", _RUN_PROTOC, str(tool), *args],
        capture_output=True,
        text=True,
    )
    if ran.returncode != 0:
        if "ImportError" in ran.stderr or "ModuleNotFoundError" in ran.stderr:
            raise GeneratorUnavailable(f"grpcio-tools {version} does not run here: {ran.stderr}")
        raise SystemExit(f"protoc of grpcio-tools {version} failed:\n{ran.stderr}")


def _rewrite_imports(text: str) -> str:
    return re.sub(r"^from archsampler\.v1 import", f"from {PACKAGE} import", text, flags=re.M)


def generate(dest: Path) -> None:
    table = "\n".join(
        f"  {name}/: grpcio-tools {version} for {runtimes}"
        for name, (version, runtimes) in GENERATORS.items()
    )
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "__init__.py").write_text('"""Generated protobuf/gRPC stubs. Do not edit."""\n')
    (dest / "archsampler_pb2.py").write_text(
        SELECTOR.format(
            source="archsampler/v1/archsampler.proto",
            table=table,
            package=PACKAGE,
            module="archsampler_pb2",
            owner="archsampler-client",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, (version, runtimes) in GENERATORS.items():
            out = Path(tmp) / name
            out.mkdir()
            _protoc(version, out)
            generated = out / "archsampler" / "v1"
            sub = dest / name
            sub.mkdir()
            (sub / "__init__.py").write_text(
                f'"""archsampler_pb2 by grpcio-tools {version}, for {runtimes}. Do not edit."""\n'
            )
            (sub / "archsampler_pb2.py").write_text((generated / "archsampler_pb2.py").read_text())
            if name == GRPC_FROM:
                text = (generated / "archsampler_pb2_grpc.py").read_text()
                (dest / "archsampler_pb2_grpc.py").write_text(_rewrite_imports(text))
            if name == PYI_FROM:
                text = (generated / "archsampler_pb2.pyi").read_text()
                (dest / "archsampler_pb2.pyi").write_text(_rewrite_imports(text))


def _rewrite_katib_imports(text: str) -> str:
    return re.sub(r"^from katib\.v1beta1 import", f"from {KATIB_PACKAGE} import", text, flags=re.M)


def generate_katib(dest: Path) -> None:
    """Katib's api.proto into `dest` (the layout of `generate`: a selector, two copies)."""
    table = "\n".join(
        f"  {name}/: grpcio-tools {version} for {runtimes}"
        for name, (version, runtimes) in GENERATORS.items()
    )
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "__init__.py").write_text(
        '"""Generated stubs of Katib\'s api.proto (protos/katib/v1beta1). Do not edit."""\n'
    )
    (dest / "api_pb2.py").write_text(
        SELECTOR.format(
            source=KATIB_SOURCE,
            table=table,
            package=KATIB_PACKAGE,
            module="api_pb2",
            owner="archsampler's Katib service",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, (version, runtimes) in GENERATORS.items():
            out = Path(tmp) / name
            out.mkdir()
            _protoc(version, out, [KATIB_SOURCE])
            generated = out / "katib" / "v1beta1"
            sub = dest / name
            sub.mkdir()
            (sub / "__init__.py").write_text(
                f'"""api_pb2 by grpcio-tools {version}, for {runtimes}. Do not edit."""\n'
            )
            (sub / "api_pb2.py").write_text((generated / "api_pb2.py").read_text())
            if name == GRPC_FROM:
                text = (generated / "api_pb2_grpc.py").read_text()
                (dest / "api_pb2_grpc.py").write_text(_rewrite_katib_imports(text))
            if name == PYI_FROM:
                text = (generated / "api_pb2.pyi").read_text()
                (dest / "api_pb2.pyi").write_text(_rewrite_katib_imports(text))


# (generator, committed output): every stub set this script writes and checks
TARGETS = ((generate, OUT), (generate_katib, KATIB_OUT))


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    try:
        if not args.check:
            with tempfile.TemporaryDirectory() as tmp:
                fresh = [Path(tmp) / str(i) / "_proto" for i in range(len(TARGETS))]
                for (gen, _), where in zip(TARGETS, fresh, strict=True):
                    gen(where)
                for (_, out), where in zip(TARGETS, fresh, strict=True):  # all ran: replace
                    shutil.rmtree(out, ignore_errors=True)
                    shutil.copytree(where, out)
            return 0
        for gen, out in TARGETS:
            with tempfile.TemporaryDirectory() as tmp:
                fresh = Path(tmp) / "_proto"
                gen(fresh)
                new, old = _files(fresh), _files(out) if out.is_dir() else set()
                stale = sorted(
                    f
                    for f in new
                    if f not in old or not filecmp.cmp(fresh / f, out / f, shallow=False)
                )
                extra = sorted(old - new)
                if stale or extra:
                    print(
                        f"generated stubs in {out.relative_to(ROOT)} are stale: "
                        f"{stale + extra}; run scripts/gen_protos.py",
                        file=sys.stderr,
                    )
                    return 1
    except GeneratorUnavailable as err:
        print(f"generator unavailable: {err}", file=sys.stderr)
        return UNAVAILABLE
    print("generated stubs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
