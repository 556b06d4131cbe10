"""Strategy hosts: studies' strategies in worker processes at a lower CPU priority.

With `strategy_processes` N > 0 (`ARCHSAMPLER_STRATEGY_PROCESSES`), each study's strategy
lives in one of N spawned host processes (niceness +10) and its lane calls it through a
`HostedStrategy` over a pipe. A CPU-bound Propose (lanas with a huge `candidates`, a
constrained space being exhausted) then holds neither the server's interpreter lock nor
its CPU priority, so the event loop and the writer answer other studies' Reports as if it
were not there. A host runs one call at a time: studies placed on the same host (the one
with the fewest strategies when the study's runtime is built) wait for each other's
calls, so N should cover the studies that propose at the same time. A host that dies is
replaced; its studies' runtimes are rebuilt from storage on their next round (the lane
treats the failed call like any strategy error). Long lists cross the pipe in parts, and a
study's large Propose is paced while other studies report (`HOST_RUN`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import weakref
from array import array
from itertools import count
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any
from typing import Callable
from typing import Sequence

from archsampler.errors import ArchSamplerError
from archsampler.priority import SHORT
from archsampler.priority import bulk_of
from archsampler.spaces.base import Arch
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal

log = logging.getLogger(__name__)
HOST_NICENESS = 10
MAX_STRATEGY_PROCESSES = 64
PART = 64
"""Items per pickled part of a long list crossing the pipe. Pickling is one C call that
holds the interpreter lock throughout: 1,000 proposals in one piece held the server's
lock for 10-18 ms, and every other study's Report waited behind it. In parts of `PART`
(~1 ms each) the server steps aside for short calls between them."""


class _Parts:
    """Stands in a message for a list that follows it on the pipe in `n` parts."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


def _split(value: Any, step: Callable[[], None]) -> tuple[Any, list[bytes]]:
    """`value` as sent in the message, and the pickled parts to send after it (a list of
    more than `PART` items goes in parts; anything else whole). Every part is pickled
    before anything is sent, so a value that cannot be pickled leaves the pipe clean."""
    if not isinstance(value, list) or len(value) <= PART:
        return value, []
    blobs = []
    for i in range(0, len(value), PART):
        if i:
            step()
        blobs.append(bytes(ForkingPickler.dumps(value[i : i + PART])))
    return _Parts(len(blobs)), blobs


def _gather(conn: Connection, value: Any, step: Callable[[], None]) -> Any:
    """The value a message carried: a `_Parts` marker's list read back part by part."""
    if not isinstance(value, _Parts):
        return value
    items: list[Any] = []
    for i in range(value.n):
        if i:
            step()
        items += conn.recv()
    return items


def _no_step() -> None:
    """The host has no neighbours to step aside for."""


HOST_RUN = 0.002
"""While a study's bulk call is paced (`priority`: another study reports), its host computes
this long (s) between two pauses; a pause stops the host process (SIGSTOP / SIGCONT)."""
CAN_STOP = hasattr(signal, "SIGSTOP")


class HostDiedError(RuntimeError):
    """A strategy host process exited (killed, out of memory); the call did not complete."""


class _Host:
    """One host process and the pipe to it; one call at a time."""

    def __init__(self, index: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_host_main,
            args=(child, HOST_NICENESS),
            daemon=True,
            name=f"archsampler-strategy-host-{index}",
        )
        self.proc.start()
        child.close()
        self.lock = threading.Lock()
        self.live = 0  # strategies placed here and not yet dropped
        self.dropped: list[int] = []  # keys to drop, sent with the next call
        self.dead = False  # a call found the pipe closed
        self.paused = 0.0  # seconds this host was held stopped by pacing, in all

    def call(self, op: str, key: int, *args: Any, bulk: str | None = None) -> Any:
        """Run `op` on strategy `key` in the host; `bulk`: the study whose bulk work this
        is (`priority.bulk_of`), paced while other studies report, or None."""
        with self.lock:
            drops, self.dropped = self.dropped, []
            split = [_split(a, SHORT.yield_to_short) for a in args]
            try:
                self.conn.send((op, key, tuple(v for v, _ in split), drops))
                for _, blobs in split:
                    for blob in blobs:
                        self.conn.send_bytes(blob)
                if bulk is not None and CAN_STOP:
                    self._paced_wait(bulk)
                ok, value = self.conn.recv()
                value = _gather(self.conn, value, SHORT.yield_to_short)
            except (EOFError, OSError) as e:
                self.dead = True
                raise HostDiedError(
                    f"strategy host {self.proc.name} exited ({self.proc.exitcode}) during {op!r}"
                ) from e
            except BaseException:
                # part of a message may be left on the pipe: no later call may read it
                self.dead = True
                self.proc.kill()
                raise
        if not ok:
            raise value
        return value

    def _paced_wait(self, study: str) -> None:
        """Wait for the host's answer to `study`'s bulk call. While another study reports,
        the host computes `HOST_RUN` at a time and is stopped in between, so its work takes
        at most the bulk share of the wall-clock time (`priority.ShortCalls.pause_for`):
        a niced process still takes a whole core, and on a small machine the other
        studies' Reports pay for it (measured in `bench isolation`)."""
        while not self.conn.poll(HOST_RUN):
            pause = SHORT.pause_for(study, HOST_RUN)
            if not pause:
                continue
            os.kill(self.proc.pid, signal.SIGSTOP)
            try:
                time.sleep(pause)
            finally:
                os.kill(self.proc.pid, signal.SIGCONT)
            self.paused += pause

    def drop(self, key: int) -> None:
        """Forget strategy `key` (its proxy was collected); sent with the next call."""
        self.dropped.append(key)  # no lock: may run from a GC pass inside `call`
        self.live -= 1

    def close(self) -> None:
        self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class StrategyHosts:
    """N host processes, started on first use; `make` builds a strategy in one of them."""

    def __init__(self, processes: int) -> None:
        if not 1 <= processes <= MAX_STRATEGY_PROCESSES:
            raise ValueError(
                f"strategy processes must be in 1..{MAX_STRATEGY_PROCESSES}, got {processes}"
            )
        self.processes = processes
        self._hosts: list[_Host] = []
        self._lock = threading.Lock()
        self._keys = count(1)
        self._closed = False

    def _place(self) -> _Host:
        with self._lock:
            if self._closed:
                raise RuntimeError("strategy hosts are closed")
            for i, host in enumerate(self._hosts):
                if host.dead or not host.proc.is_alive():
                    log.error(
                        "strategy host %s exited (%s); replacing it",
                        host.proc.name,
                        host.proc.exitcode,
                    )
                    host.close()
                    self._hosts[i] = _Host(i)
            if len(self._hosts) < self.processes:
                self._hosts.append(_Host(len(self._hosts)))
                host = self._hosts[-1]
            else:
                host = min(self._hosts, key=lambda h: h.live)
            host.live += 1
            return host

    def make(
        self,
        name: str,
        space_spec: dict[str, Any],
        seed: int,
        options: dict[str, Any],
        study: str,
    ) -> HostedStrategy:
        """Build strategy `name` (as `make_strategy`) in a host for study `study` (whose
        bulk calls are paced); its errors surface here."""
        host = self._place()
        key = next(self._keys)  # a new key per strategy: never reused, even on a new host
        try:
            uses_model = host.call("create", key, name, space_spec, seed, options)
        except BaseException:
            host.live -= 1
            raise
        return HostedStrategy(host, key, uses_model, study)

    def close(self) -> None:
        """Kill every host (their strategies are rebuilt from storage by the next server)."""
        with self._lock:
            self._closed = True
            hosts, self._hosts = self._hosts, []
        for host in hosts:
            host.close()


class HostedStrategy:
    """The lane's side of a strategy living in a host process: the `Strategy` calls the
    service makes (`observe`, `propose`, `reseed`, `set_model`, `describe`), forwarded."""

    def __init__(self, host: _Host, key: int, uses_model: bool, study: str) -> None:
        self.uses_model = uses_model  # whether the lane hands it the study's model
        self.model: Any = None
        self.study = study
        self._host = host
        self._key = key
        self._sent: dict[int, Arch] = {}  # pending architectures the host holds, by id
        weakref.finalize(self, host.drop, key)

    def observe(self, observations: Sequence[Observation]) -> None:
        self._host.call("observe", self._key, list(observations))

    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        """Pending architectures go as ids in order plus the ones the host has not seen:
        pickling a large pending list at every call would hold the server's interpreter
        lock for tens of milliseconds in one piece."""
        order = [id(a) for a in pending]
        current = dict(zip(order, pending, strict=True))  # holds them: ids stay unique
        added = [(k, a) for k, a in current.items() if k not in self._sent]
        self._sent = current
        try:  # the ids as one array: a memory copy to pickle, however many are pending
            return self._host.call(
                "propose", self._key, n, array("q", order), added, bulk=bulk_of(self.study, [n])
            )
        except ArchSamplerError:
            raise  # the strategy's answer (e.g. exhausted): the host holds `current`
        except BaseException:
            self._sent = {}  # whatever the host holds now, the next call sends them all
            raise

    def reseed(self, seed: Any) -> None:
        self._host.call("reseed", self._key, seed)

    def set_model(self, model: Any) -> None:
        """Hand over a model version: the host loads it from its folder (`model.path`)."""
        self.model = model
        ref = None if model is None else (model.version, str(model.path), model.sign)
        self._host.call("set_model", self._key, ref)

    def describe(self) -> list[dict[str, Any]]:
        return self._host.call("describe", self._key)


# -- the host process ---------------------------------------------------------------------
def _picklable(e: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001 - any unpicklable error is sent as its text
        return RuntimeError(f"{type(e).__name__}: {e}")


def _serve(
    strategies: dict[int, Any],
    pending: dict[int, dict[int, Arch]],
    op: str,
    key: int,
    args: tuple,
) -> Any:
    from archsampler.spaces import make_space
    from archsampler.strategies import make_strategy

    if op == "create":
        name, space_spec, seed, options = args
        strategy = make_strategy(name, make_space(space_spec), seed=seed, options=options)
        strategies[key] = strategy
        return strategy.uses_model
    strategy = strategies[key]
    if op == "observe":
        return strategy.observe(args[0])
    if op == "propose":
        n, order, added = args
        known = pending.setdefault(key, {})
        known.update(added)
        archs = [known[k] for k in order]
        pending[key] = {k: known[k] for k in order}  # forget what is no longer pending
        return strategy.propose(n, archs)
    if op == "reseed":
        return strategy.reseed(args[0])
    if op == "set_model":
        return strategy.set_model(None if args[0] is None else _load_model(strategy, *args[0]))
    if op == "describe":
        describe = getattr(strategy, "describe", None)
        return describe() if describe is not None else []
    raise ValueError(f"unknown strategy host call {op!r}")


def _load_model(strategy: Any, version: int, path: str, sign: float) -> Any:
    from archsampler.predictor.handle import ModelHandle
    from archsampler.predictor.runtime import NAOPredictor

    return ModelHandle(version, NAOPredictor.load(path, threads=1), strategy.space, sign, path)


def _die_with_parent() -> None:
    """Linux: the kernel kills this host when the server's thread that started it exits,
    even while pacing holds it stopped (`exit_with_parent` polls, which a stopped process
    cannot). Elsewhere a no-op."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _host_main(conn: Any, niceness: int) -> None:
    """Host process: serve calls until the pipe closes (the server exited or closed it)."""
    from archsampler.predictor.manager import exit_with_parent

    threading.Thread(target=exit_with_parent, daemon=True).start()
    _die_with_parent()
    try:
        os.nice(niceness)
    except OSError:
        log.warning("could not lower the strategy host's CPU priority")
    strategies: dict[int, Any] = {}
    pending: dict[int, dict[int, Arch]] = {}  # per strategy: its pending architectures by id
    while True:
        try:  # anything but a whole message leaves the pipe out of step: exit (replaced)
            op, key, args, drops = conn.recv()
            args = tuple(_gather(conn, a, _no_step) for a in args)
        except (EOFError, OSError):
            return
        for k in drops:
            strategies.pop(k, None)
            pending.pop(k, None)
        blobs: list[bytes] = []
        try:
            value, blobs = _split(_serve(strategies, pending, op, key, args), _no_step)
            reply = (True, value)
        except BaseException as e:  # noqa: BLE001 - the lane's caller gets it
            reply, blobs = (False, _picklable(e)), []
        try:
            conn.send(reply)
            for blob in blobs:
                conn.send_bytes(blob)
        except (BrokenPipeError, EOFError, OSError):
            return
        except Exception as e:  # noqa: BLE001 - an unpicklable answer: nothing was written
            conn.send((False, RuntimeError(f"strategy host could not send its answer: {e}")))
