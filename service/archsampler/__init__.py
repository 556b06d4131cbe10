"""archsampler: a predictor-and-sampler service for neural architecture search.

`Engine` (the service in this process, with the SDK's study API) is imported on first use,
so `import archsampler` stays light for the CLI and the server.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Engine", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from archsampler.engine import Engine

        return Engine
    raise AttributeError(f"module 'archsampler' has no attribute {name!r}")
