# One image for every Python process of the shop (user, order, payment, gateway, loadgen,
# faults); docker-compose.yml picks the entry point with `command:`.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (see .dockerignore); versions come from the pinned lock.
COPY pyproject.toml requirements.lock README.md ./
COPY services ./services
COPY instrumentation ./instrumentation
COPY bench ./bench
RUN pip install -c requirements.lock . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin shop \
    && mkdir -p /data \
    && chown shop:shop /data

USER shop
# Servers listen on every interface of the container; SQLite files go to the /data volume.
ENV SHOP_BIND_HOST=0.0.0.0 \
    SHOP_DATA_DIR=/data

CMD ["python", "-m", "services.demo"]
