# The worker image: `pipeline poll|apply|run`, `pipeline sandbox`, `pipeline topics` and the rest.
# Without the `broker` extra: containers talk to a real Kafka (compose.yaml), not the embedded one.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY pipeline ./pipeline
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home pipeline

USER pipeline
# /metrics, /healthz, /readyz of a worker ([metrics] port).
EXPOSE 9464

CMD ["pipeline", "--log-format", "json", "run", "--config", "/etc/pipeline/fleet.toml"]
