"""ONNX Runtime provider choice: CUDA only when wanted, allowed, built in and really working."""

from __future__ import annotations

import pytest

from archsampler.predictor.providers import CPU
from archsampler.predictor.providers import CUDA
from archsampler.predictor.providers import choose_providers
from archsampler.predictor.providers import select_providers


class Probe:
    """A probe answering `ok`, counting its calls."""

    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.ok


@pytest.mark.parametrize(
    "available, prefer, disabled, probe_ok, expected, probed",
    [
        ([CUDA, CPU], True, False, True, [CUDA, CPU], True),  # CUDA works: it serves
        ([CUDA, CPU], True, False, False, [CPU], True),  # built in, no device / libraries
        ([CPU], True, False, True, [CPU], False),  # CPU-only build: never probed
        ([CUDA, CPU], True, True, True, [CPU], False),  # ARCHSAMPLER_DISABLE_CUDA
        ([CUDA, CPU], False, False, True, [CPU], False),  # the caller wants the CPU
    ],
)
def test_choice(
    available: list[str],
    prefer: bool,
    disabled: bool,
    probe_ok: bool,
    expected: list[str],
    probed: bool,
) -> None:
    probe = Probe(probe_ok)
    assert choose_providers(available, prefer_cuda=prefer, disabled=disabled, probe=probe) == (
        expected
    )
    assert probe.calls == int(probed)


def test_disable_cuda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHSAMPLER_DISABLE_CUDA", "1")
    assert select_providers() == [CPU]
    assert select_providers(prefer_cuda=False) == [CPU]
