"""Adapters for the platforms trainers already run, one module each.

Each module imports its platform only when it is imported itself, so the base client never
needs them: `archsampler_client.integrations.optuna` (`pip install
'archsampler-client[optuna]'`) holds `ArchSamplerSampler`.
"""
