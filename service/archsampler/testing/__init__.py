"""Test kit shipped with the package: real servers on loopback for tests and benchmarks."""

from archsampler.testing.servers import ServerProcess
from archsampler.testing.servers import ServerThread
from archsampler.testing.servers import free_port

__all__ = ["ServerProcess", "ServerThread", "free_port"]
