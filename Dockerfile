# syntax=docker/dockerfile:1
# One image for every finsent service; the command picks the service (docker-compose.yml):
#   docker run --rm finsent:latest ingest serve | ingest rss --config ... | infer | alerts run | web
#
# Dependencies come from pyproject.toml only (never listed twice), installed before the
# source is copied so a code change does not reinstall torch. CPU torch wheels by default;
# GPU image: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv
WORKDIR /app

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source tree stays at /app (editable install): the shipped model and data files are
# found relative to it (models/finsent-minilm, ingest/data).
COPY finsent ./finsent
COPY ingest ./ingest
COPY inference ./inference
COPY alerts ./alerts
COPY dashboards ./dashboards
COPY cli ./cli
COPY models ./models
RUN pip install --no-deps -e . \
    && finsent --help > /dev/null

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin finsent
USER finsent

ENTRYPOINT ["finsent"]
CMD ["--help"]
