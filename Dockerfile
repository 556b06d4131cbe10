# archsampler as a Katib suggestion service (and the ArchSampler API beside it).
#
#   docker build -t archsampler:0.1.0 .
#   docker run -p 6789:6789 -p 50051:50051 archsampler:0.1.0
#
# Katib's controller dials the suggestion pod on port 6789 (api.v1.beta1.Suggestion, no TLS)
# and probes gRPC health there for service "manager.v1beta1.Suggestion"; HEALTHCHECK asks the
# same. Studies live in ARCHSAMPLER_DB: a SQLite file under /opt/katib/data (Katib mounts the
# suggestion volume there with resumePolicy FromVolume) or a PostgreSQL URL
# (postgresql+psycopg://...). See deploy/katib/ for the katib-config entry and an Experiment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/archsampler
COPY pyproject.toml README.md ./
COPY clients ./clients
COPY service ./service
COPY models ./models
RUN pip install ./clients '.[postgres]' \
    && useradd --create-home --uid 10001 --user-group archsampler \
    && mkdir -p /opt/katib/data \
    && chown archsampler:archsampler /opt/katib/data

USER 10001:10001
ENV ARCHSAMPLER_HOST=0.0.0.0 \
    ARCHSAMPLER_DB=/opt/katib/data/archsampler.db \
    ARCHSAMPLER_KATIB_PORT=6789
EXPOSE 6789 50051

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "archsampler.katib.healthcheck", "--port", "6789"]

ENTRYPOINT ["archsampler", "serve"]
CMD ["--katib-port", "6789"]
