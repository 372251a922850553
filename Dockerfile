# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY classifiers ./classifiers
COPY mailtext ./mailtext
COPY migrations ./migrations
RUN python -m venv /opt/routedesk && /opt/routedesk/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --create-home --home-dir /var/lib/routedesk routedesk
COPY --from=build /opt/routedesk /opt/routedesk
ENV PATH=/opt/routedesk/bin:$PATH \
    ROUTEDESK_DATA_DIR=/var/lib/routedesk/data \
    ROUTEDESK_DATABASE_URL=sqlite+aiosqlite:////var/lib/routedesk/routedesk.db \
    PYTHONUNBUFFERED=1
USER routedesk
WORKDIR /var/lib/routedesk
VOLUME /var/lib/routedesk
EXPOSE 8000
CMD ["sh", "-c", "routedesk db upgrade && exec routedesk run --host 0.0.0.0 --port 8000"]
