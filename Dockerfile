# syntax=docker/dockerfile:1
# The base is any Debian-like image with Python 3.11+, its venv module, CA certificates and libstdc++ (for
# the wheels of greenlet and scikit-learn). Docker Hub's python:3.11-slim by default; .ci/container passes
# one it makes locally with mmdebstrap (--build-arg BASE=localhost/routedesk-base), for machines that
# cannot reach Docker Hub.
ARG BASE=docker.io/library/python:3.11-slim

# One stage: a second one would copy the whole venv (about 600 MB) into it on every build, and again on
# every code change; here a code change rebuilds only the small layers after the dependencies'.
FROM ${BASE}
RUN useradd --uid 10001 --user-group --home-dir /var/lib/routedesk --no-create-home --shell /usr/sbin/nologin routedesk \
    && mkdir -p /var/lib/routedesk/data && chown -R routedesk:routedesk /var/lib/routedesk
WORKDIR /src
# The dependencies first, in a layer of their own: a change to the code alone does not install them again.
COPY pyproject.toml ./
RUN python3 -m venv /opt/routedesk \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        >/tmp/requirements.txt \
    && /opt/routedesk/bin/pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY README.md alembic.ini ./
COPY app ./app
COPY classifiers ./classifiers
COPY mailtext ./mailtext
COPY migrations ./migrations
# The package is installed (migrations included); the source is not kept.
RUN /opt/routedesk/bin/pip install --no-cache-dir --no-deps . && cd / && rm -rf /src
ENV PATH=/opt/routedesk/bin:$PATH \
    HOME=/var/lib/routedesk \
    ROUTEDESK_DATA_DIR=/var/lib/routedesk/data \
    ROUTEDESK_DATABASE_URL=sqlite+aiosqlite:////var/lib/routedesk/routedesk.db \
    PYTHONUNBUFFERED=1 \
    PORT=8000
USER 10001:10001
WORKDIR /var/lib/routedesk
# The SQLite database and the generated mailbox-password key (unless ROUTEDESK_SECRET_KEY is set) live here.
VOLUME /var/lib/routedesk
EXPOSE 8000
# /readyz answers 200 once the database answers (503 otherwise). Python, not curl: the base has no curl.
# Podman keeps a HEALTHCHECK only in the docker image format (podman build --format docker).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"]
# Migrations run on every start (a no-op when the schema is current), then API and worker in one process.
CMD ["sh", "-c", "routedesk db upgrade && exec routedesk run --host 0.0.0.0 --port \"$PORT\""]
