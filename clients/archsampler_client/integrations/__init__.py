"""Adapters for the platforms trainers already run, one module each.

Each module imports its platform only when it is imported itself, so the base client never
needs them: `archsampler_client.integrations.optuna` (`pip install
'archsampler-client[optuna]'`) holds `ArchSamplerSampler`, `.ray` (`[ray]`) holds
`ArchSamplerSearch`, `.nni` (`[nni]`) holds `ArchSamplerTuner`. The private modules are
shared: `_space` (framework-neutral parameter codecs), `_common` (the study API an adapter
talks to, heartbeats), and one `_<platform>_space` converter per platform.
"""
