# One image for every Sajja service; the argument names the service:
#   docker build -t sajja .
#   docker run -e SAJJA_DATABASE_URL=… -e SAJJA_KAFKA_BOOTSTRAP_SERVERS=… -e SAJJA_NATIONAL_ID_HASH_KEY=… sajja lending
# deploy/compose.yaml and deploy/k8s/ run one container of it per service.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
COPY deploy ./deploy
COPY sajja_cli ./sajja_cli
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The project and its runtime dependencies only (no dev extras); the source stays in the build stage.
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
RUN groupadd --system --gid 10001 sajja \
    && useradd --system --uid 10001 --gid sajja --home-dir /home/sajja --create-home sajja
WORKDIR /home/sajja
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001

# Listen on every interface inside the container (Settings defaults to 127.0.0.1).
ENV SAJJA_HOST=0.0.0.0 \
    SAJJA_PORT=8000 \
    SAJJA_DATA_DIR=/tmp/sajja
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SAJJA_PORT', '8000') + '/healthz', timeout=4)"]

ENTRYPOINT ["python", "-m", "deploy.serve_one"]
CMD ["ledger"]
