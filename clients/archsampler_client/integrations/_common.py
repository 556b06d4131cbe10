"""What every platform adapter shares: the study API it talks to, and heartbeats.

An adapter takes `target_or_engine`: a `"host:port"` string (a `Client` is built and owned)
or any object with the SDK's study API (`create_study(name, space=, strategy=,
strategy_options=, goal=, seed=)` and `study(name)`, each giving a study with `propose`,
`report`, `tell` and `heartbeat`): a `Client`, or the in-process `archsampler.Engine`
(no server: `ArchSamplerSampler(Engine("studies.db"), ...)`). A passed object is not
closed by the adapter.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from archsampler_client.client import Client
from archsampler_client.errors import ArchSamplerError

STUDY_API = ("create_study", "study")  # what a passed object needs (a Client, an Engine)


class Adapter:
    """What every adapter holds: the study API, the study's settings, a lock, heartbeats.

    The arguments every adapter takes, besides its own:

    - `target_or_engine`: `"host:port"` of an archsampler server (a `Client` is built with
      `client_kwargs`), or any object with the SDK's study API (a `Client`, or the
      in-process `archsampler.Engine`);
    - `strategy`: archsampler strategy (`lanas`, `nao`, `evolution`, `random`; "" = the
      server's default), `strategy_options`: its options;
    - `seed`: seed of the archsampler study (part of its config: every process must pass
      the same);
    - `client_id`: sent with each Propose (default `<platform>-<host>-<pid>`);
    - `heartbeat_interval`: seconds between heartbeats of the running trials' proposals,
      from a daemon thread, so a trial longer than the server's lease (default 1 h) never
      goes STALE (None: no heartbeats);
    - `**client_kwargs`: `Client` arguments (`timeout`, `retries`, `token`,
      `credentials`, …) when `target_or_engine` is a string.

    Pickle-safe: the attributes named in `_RUNTIME` (lock, caches, threads) are dropped
    and rebuilt by `_init_runtime`, which a subclass extends.
    """

    _RUNTIME: tuple[str, ...] = ("_lock", "_heartbeats")

    def _setup(
        self,
        platform: str,
        target_or_engine: Any,
        client_kwargs: dict[str, Any],
        strategy: str,
        strategy_options: dict[str, Any] | None,
        seed: int,
        client_id: str | None,
        heartbeat_interval: float | None,
    ) -> None:
        self._client, self._owns_client = connect(target_or_engine, client_kwargs)
        self._strategy = strategy
        self._options = dict(strategy_options or {})
        self._seed = seed
        self._client_id = client_id or default_client_id(platform)
        self._heartbeat_interval = heartbeat_interval
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._heartbeats: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in self._RUNTIME:
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def close(self) -> None:
        """Close the client built from a target string (not a passed one)."""
        if self._owns_client:
            self._client.close()

    def _create_study(self, name: str, spec: dict[str, Any], goal: str) -> Any:
        """Create (or load, same config) the archsampler study of a user space."""
        return self._client.create_study(
            name,
            space=spec,
            strategy=self._strategy,
            strategy_options=self._options,
            goal=goal,
            seed=self._seed,
        )

    def _heartbeat_running(self) -> None:
        """Start the heartbeat thread once (call with `_lock` held)."""
        if self._heartbeat_interval is not None and self._heartbeats is None:
            self._heartbeats = start_heartbeats(self, self._heartbeat_interval, _running)

    def _running(self) -> list[tuple[Any, int]]:
        """The running trials' `(study handle, trial id)` (call with `_lock` held)."""
        raise NotImplementedError


def _running(adapter: Adapter) -> list[tuple[Any, int]]:
    with adapter._lock:
        return adapter._running()


def connect(target_or_engine: Any, client_kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """`(study API, owned)`: a `Client` built from a target string (owned), or the object
    (a `Client` or an `archsampler.Engine`; not owned).

    Raises:
        TypeError: `client_kwargs` given with an object (they only configure a `Client`),
            or an object without the study API (`create_study` and `study`).
    """
    if isinstance(target_or_engine, str):
        return Client(target_or_engine, **client_kwargs), True
    if client_kwargs:
        raise TypeError(f"client arguments {sorted(client_kwargs)} need a target string")
    missing = [m for m in STUDY_API if not callable(getattr(target_or_engine, m, None))]
    if missing:
        raise TypeError(
            "target_or_engine must be 'host:port', a Client or an archsampler.Engine; "
            f"a {type(target_or_engine).__name__} has no {', '.join(missing)}"
        )
    return target_or_engine, False


def default_client_id(platform: str) -> str:
    """`<platform>-<host>-<pid>`: what a Propose from this process is tagged with."""
    return f"{platform}-{socket.gethostname()}-{os.getpid()}"


def start_heartbeats(
    owner: Any, interval: float, running: Callable[[Any], Iterable[tuple[Any, int]]]
) -> threading.Thread:
    """Start a daemon thread that heartbeats `running(owner)`'s `(study handle, trial id)`
    pairs every `interval` seconds, so a trial longer than the server's lease never goes
    STALE. It holds `owner` only weakly and ends with it."""
    thread = threading.Thread(
        target=_heartbeat_loop,
        args=(weakref.ref(owner), interval, running),
        name="archsampler-heartbeats",
        daemon=True,
    )
    thread.start()
    return thread


def _heartbeat_loop(
    ref: weakref.ref[Any],
    interval: float,
    running: Callable[[Any], Iterable[tuple[Any, int]]],
) -> None:
    while True:
        time.sleep(interval)
        owner = ref()
        if owner is None:
            return
        pairs = list(running(owner))
        del owner
        for handle, trial_id in pairs:
            try:
                handle.heartbeat(trial_id)
            except ArchSamplerError:
                pass  # reported meanwhile (FAILED_PRECONDITION), or the server is away
