"""Katib's suggestion service (`api.v1.beta1.Suggestion`) over archsampler studies.

`archsampler serve --katib-port PORT` (or `ARCHSAMPLER_KATIB_PORT`) serves it beside the
ArchSampler API: `server.start_katib_server`; the Experiment mapping is in `experiment`
(hyperparameters) and `enas` (nas_config, answered in the format of Katib's ENAS).
"""

PROBE_SERVICE = "manager.v1beta1.Suggestion"
"""The service Katib's gRPC readiness / liveness probe names (its DefaultGRPCService)."""
