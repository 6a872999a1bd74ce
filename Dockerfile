# syntax=docker/dockerfile:1
# One image for every MLoop service; the compose file picks the process with its command:
#   python -m mloop_gateway | mloop_trainer | mloop_predictor | mloop_monitor | mloop_scheduler
#   python -m mloop_common.prestart   (the one-off migrate + topics job)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir "uv>=0.8,<0.20"

WORKDIR /app

# Dependencies first, from the lock alone, so this layer is cached until a pyproject or the
# lock changes. --locked needs every workspace member's pyproject.toml.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/trainer/pyproject.toml services/trainer/
COPY services/predictor/pyproject.toml services/predictor/
COPY services/monitor/pyproject.toml services/monitor/
COPY services/scheduler/pyproject.toml services/scheduler/
COPY clients/python/pyproject.toml clients/python/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace

# Then the sources, and the workspace packages themselves.
COPY libs/common/mloop_common libs/common/mloop_common
COPY services/gateway/mloop_gateway services/gateway/mloop_gateway
COPY services/trainer/mloop_trainer services/trainer/mloop_trainer
COPY services/predictor/mloop_predictor services/predictor/mloop_predictor
COPY services/monitor/mloop_monitor services/monitor/mloop_monitor
COPY services/scheduler/mloop_scheduler services/scheduler/mloop_scheduler
COPY clients/python/mloop_client clients/python/mloop_client
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev \
    && python -m compileall -q libs services

# Run as an unprivileged user; MLOOP_HOME is the only place a service may write.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/mloop mloop \
    && mkdir -p /var/lib/mloop \
    && chown mloop:mloop /var/lib/mloop
ENV PATH="/app/.venv/bin:${PATH}" \
    MLOOP_HOME=/var/lib/mloop
USER mloop

EXPOSE 8000 8001
CMD ["python", "-m", "mloop_gateway"]
