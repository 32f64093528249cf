# syntax=docker/dockerfile:1
# One image for every finsent service; the command picks the service (docker-compose.yml):
#   docker run --rm finsent:latest ingest serve | ingest rss --config ... | infer | alerts run | web
#
# Dependencies: requirements.lock (`make lock`, resolved from pyproject.toml) pins every
# runtime package with its hashes, and pip refuses anything else. torch is the exception:
# it comes by itself, at pyproject.toml's version, from TORCH_INDEX_URL (CPU wheels by
# default; GPU image: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128),
# which is not PyPI, so its hash is not in the lock. Both steps run before the source is
# copied, so a code change does not reinstall torch.

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
COPY pyproject.toml README.md requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock \
    && pip install --no-deps --index-url "${TORCH_INDEX_URL}" "$(python -c "import tomllib; print(next(d for d in tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'] if d.startswith('torch==')))")" \
    && pip check

# The source tree stays at /app (editable install): the shipped model and data files are
# found relative to it (models/finsent-minilm, ingest/data).
COPY finsent ./finsent
COPY ingest ./ingest
COPY inference ./inference
COPY alerts ./alerts
COPY dashboards ./dashboards
COPY cli ./cli
# training/: the CLI mounts `finsent train | eval` (they refuse to run without the train extra).
COPY training ./training
# devstack/: the CLI mounts `finsent stack` and `finsent soak` (developer tooling).
COPY devstack ./devstack
COPY models ./models
RUN pip install --no-deps -e . \
    && finsent --help > /dev/null

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin finsent
USER finsent

ENTRYPOINT ["finsent"]
CMD ["--help"]
