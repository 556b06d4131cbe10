"""ONNX Runtime execution providers: CUDA only when it really works, else CPU, quietly."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Callable

import onnxruntime as ort

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
CUDA_OPTIONS = {"use_tf32": "0"}
_QUIET = 4  # FATAL only: a failed CUDA probe logs errors we do not want users to see
_NORMAL = 3  # ERROR


@functools.lru_cache(maxsize=1)
def cuda_usable() -> bool:
    """Whether a session can actually run on CUDA (libraries load, a device exists)."""
    if os.environ.get("ARCHSAMPLER_DISABLE_CUDA"):
        return False
    if CUDA not in ort.get_available_providers():
        return False
    ort.set_default_logger_severity(_QUIET)
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = _QUIET
        sess = ort.InferenceSession(_identity_model(), opts, providers=[CUDA, CPU])
        ok = CUDA in sess.get_providers()
    except Exception:  # any failure to create a CUDA session means: use the CPU
        ok = False
    finally:
        ort.set_default_logger_severity(_NORMAL)
    if not ok:
        log.info("onnxruntime: CUDA is not usable here; running predictor models on the CPU")
    return ok


def choose_providers(
    available: list[str], *, prefer_cuda: bool, disabled: bool, probe: Callable[[], bool]
) -> list[str]:
    """The provider choice: [CUDA, CPU] when CUDA is wanted, not disabled, built into this
    ONNX Runtime and the probe really gets a CUDA session; else [CPU] (the probe is only run
    when everything else allows CUDA)."""
    if not prefer_cuda or disabled or CUDA not in available:
        return [CPU]
    return [CUDA, CPU] if probe() else [CPU]


def select_providers(prefer_cuda: bool = True) -> list[str]:
    """Provider list for new sessions: [CUDA, CPU] when CUDA works and is wanted, else [CPU]."""
    return choose_providers(
        ort.get_available_providers(),
        prefer_cuda=prefer_cuda,
        disabled=bool(os.environ.get("ARCHSAMPLER_DISABLE_CUDA")),
        probe=cuda_usable,
    )


def make_session(
    path: str | Path, *, threads: int | None = None, providers: list[str] | None = None
) -> ort.InferenceSession:
    """An inference session with quiet logging and `threads` intra-op threads (0/None: ORT's)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = _NORMAL
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    chosen = providers or select_providers()
    # Full float32 on GPUs that would use TF32 (Ampere and later): parity is checked at 1e-5.
    with_options = [(p, CUDA_OPTIONS) if p == CUDA else p for p in chosen]
    return ort.InferenceSession(str(path), opts, providers=with_options)


def _identity_model() -> bytes:
    from onnx import TensorProto
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()
