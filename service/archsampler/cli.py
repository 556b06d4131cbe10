"""Command line: `archsampler serve | demo | studies | trials | best | export | bench <name>`."""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys

BENCHES = {
    "search": "search strategies against a lookup table (regret, evaluations to the best)",
    "latency": "Propose latency of lanas with 1,000 and 10,000 observed trials",
    "sampler": "polytope samplers vs hopsy: steps/s and effective samples/s",
    "predictor": "NAO predictor ranking accuracy and ONNX Runtime vs torch throughput",
    "load": "propose+report pairs/s and latency with many clients on loopback",
    "chaos": "SIGKILL the server under load; count lost reports and duplicate pending",
    "fuzz": "random and malformed requests for every RPC; count INTERNAL and crashes",
    "isolation": "Report p99 of one study while another study's Propose is slow (ratio)",
    "optuna": "per-trial overhead of the Optuna sampler vs Optuna's RandomSampler",
    "exhaustion": "Propose latency of exhausted spaces (constrained int, NB201's last networks)",
    "stopping": "early stopping (median, ASHA) vs none on real digits CNN training",
    "warmstart": "Propose latency with warm-start hints on vs off (1k / 10k completed trials)",
    "mlp": "MLPNAS on sklearn digits with real torch training: best accuracy per strategy",
    "multiobjective": "NB201 C10 accuracy vs parameters: hypervolume regret vs Optuna",
    "dashboard": "a study's dashboard view at 1k / 10k / 100k trials vs reading every trial",
}
BENCH_MODULES = {"optuna": "optuna_overhead"}
"""Benchmarks whose module is not named after them (`optuna` would shadow the package)."""


def _error(command: str, message: str) -> int:
    """One line on stderr, exit status 2 (a setting or input the command cannot use)."""
    print(f"archsampler {command}: error: {message}", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from archsampler.config import Settings
    from archsampler.logs import configure_logging
    from archsampler.server.app import run
    from archsampler.server.auth import AuthConfigError

    overrides = {
        k: v
        for k, v in (
            ("host", args.host),
            ("port", args.port),
            ("db", args.db),
            ("default_strategy", args.default_strategy),
            ("metrics_port", args.metrics_port),
            ("katib_port", args.katib_port),
            ("dashboard_port", args.dashboard_port),
            ("tls_cert_file", args.tls_cert),
            ("tls_key_file", args.tls_key),
            ("tls_client_ca_file", args.tls_client_ca),
            ("log_format", args.log_format),
        )
        if v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as e:  # never echo the input: it may hold tokens
        problems = "; ".join(
            f"ARCHSAMPLER_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
            for err in e.errors()
        )
        return _error("serve", problems)
    configure_logging(settings.log_level, settings.log_format)
    try:
        run(settings)
    except AuthConfigError as e:
        return _error("serve", str(e))
    except OSError as e:  # e.g. the Katib port is taken
        return _error("serve", str(e))
    return 0


def _hash_token(args: argparse.Namespace) -> int:
    import getpass

    from archsampler.server.auth import token_digest

    if sys.stdin.isatty():
        token = getpass.getpass("token (not echoed): ")
    else:
        token = sys.stdin.readline()
    token = token.strip()  # as the server reads a bearer token
    if not token:
        return _error("hash-token", "no token on stdin")
    print(token_digest(token).hex())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from archsampler.demo import run_demo

    return run_demo(args)


def _bench_module(name: str) -> str:
    return f"archsampler.bench.{BENCH_MODULES.get(name, name)}"


def _run_module(name: str, prog: str, argv: list[str], description: str | None = None) -> int:
    module = importlib.import_module(name)
    parser = argparse.ArgumentParser(prog=prog, description=description or module.__doc__)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archsampler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gRPC service")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 50051; 0 = any free port)")
    serve.add_argument("--db", help="SQLite file or SQLAlchemy URL (default archsampler.db)")
    serve.add_argument("--default-strategy", help="strategy for studies that name none")
    serve.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (0 = any)")
    serve.add_argument(
        "--katib-port", type=int, help="also serve Katib's suggestion API on this port (0 = any)"
    )
    serve.add_argument(
        "--dashboard-port", type=int, help="serve the read-only web dashboard here (0 = any)"
    )
    serve.add_argument("--tls-cert", help="server certificate chain (PEM): enables TLS")
    serve.add_argument("--tls-key", help="server private key (PEM)")
    serve.add_argument("--tls-client-ca", help="client CA (PEM): requires client certificates")
    serve.add_argument("--log-format", choices=("text", "json"), help="log line format")
    serve.set_defaults(func=_serve)

    hash_token = sub.add_parser(
        "hash-token",
        help="SHA-256 of a token read from stdin (token_sha256 of ARCHSAMPLER_AUTH_FILE)",
    )
    hash_token.set_defaults(func=_hash_token)

    demo = sub.add_parser("demo", help="serve and run a demo search on the NB201 table")
    demo.add_argument("--target", help="connect to this server instead of starting one")
    demo.add_argument("--db", default="archsampler-demo.db", help="SQLite file of the server")
    demo.add_argument("--trials", type=int, default=200, help="trials to evaluate")
    demo.add_argument("--strategy", default="lanas", help="search strategy")
    demo.add_argument("--batch", type=int, default=4, help="architectures per Propose call")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)

    from archsampler_client import cli as results

    for name, help_text in results.COMMANDS.items():
        results.add_arguments(sub.add_parser(name, help=help_text), name)
        sub.choices[name].set_defaults(func=functools.partial(results.run, name))

    from archsampler_client import _import as importing

    bulk = sub.add_parser("import", help="import results from a CSV / JSON Lines file")
    importing.add_arguments(bulk)
    bulk.set_defaults(func=importing.run)

    train = sub.add_parser("train", help="train and export a NAO model (study or table)")
    train.set_defaults(func=None, module="archsampler.training")

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for name, help_text in BENCHES.items():
        p = bench_sub.add_parser(name, help=help_text)
        p.set_defaults(func=None, bench_module=_bench_module(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    # Small matrix products run faster single-threaded, and a multi-threaded BLAS spikes
    # latency on a busy host; set before numpy is first imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # `train` and `bench NAME` own their options (and their --help): dispatch before parsing.
    if argv[:1] == ["train"]:
        return _run_module("archsampler.training", "archsampler train", argv[1:])
    if argv[:1] == ["bench"] and len(argv) > 1 and argv[1] in BENCHES:
        return _run_module(
            _bench_module(argv[1]),
            f"archsampler bench {argv[1]}",
            argv[2:],
            BENCHES[argv[1]],
        )
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
