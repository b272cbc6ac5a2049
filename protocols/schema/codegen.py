"""Generate the Python code and type stubs of the wire schema from its ``.proto`` file.

Run ``python -m protocols.schema.codegen`` (``make proto``) after editing the schema; the test
suite fails while the committed code is stale. Needs the ``dev`` extra (grpcio-tools bundles
``protoc``; mypy-protobuf writes the ``.pyi`` stubs), imported only here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from protocols.errors import CodegenError

SCHEMA_ROOT = Path(__file__).resolve().parents[2]
"""The directory protoc resolves imports from: the project root, so generated modules are named
``protocols.schema.v1.roadgate_pb2``."""

PROTO_FILES = ("protocols/schema/v1/roadgate.proto",)


def generate(out_dir: Path = SCHEMA_ROOT) -> list[Path]:
    """Run protoc on the schema, writing ``*_pb2.py`` and ``*_pb2.pyi`` under ``out_dir``.

    Returns the written paths. Raises ``CodegenError`` when protoc fails (``protoc_failed``) or
    the ``dev`` extra is not installed (``missing_tool``).
    """
    try:
        from grpc_tools import protoc
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise CodegenError(
            "code generation needs grpcio-tools: pip install -e '.[dev]'", reason="missing_tool"
        ) from err
    beside_python = Path(sys.executable).with_name("protoc-gen-mypy")
    plugin = shutil.which("protoc-gen-mypy") or str(beside_python)
    if not Path(plugin).exists():
        raise CodegenError(
            "code generation needs mypy-protobuf: pip install -e '.[dev]'", reason="missing_tool"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{SCHEMA_ROOT}",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"--python_out={out_dir}",
        f"--mypy_out={out_dir}",
        *(str(SCHEMA_ROOT / p) for p in PROTO_FILES),
    ]
    status = protoc.main(args)
    if status != 0:
        raise CodegenError(
            f"protoc failed with status {status}: {' '.join(args)}", reason="protoc_failed"
        )
    written = []
    for proto in PROTO_FILES:
        stem = proto.removesuffix(".proto")
        written += [out_dir / f"{stem}_pb2.py", out_dir / f"{stem}_pb2.pyi"]
    return written


if __name__ == "__main__":
    for path in generate():
        print(f"wrote {path}")
