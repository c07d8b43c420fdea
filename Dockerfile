# The image docker-compose.yml builds for the web, migrate and worker services.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/compass
COPY pyproject.toml package.json package-lock.json ./
COPY app ./app
COPY handlers ./handlers
COPY processes ./processes
COPY forms ./forms
COPY migrations ./migrations
RUN pip install --no-cache-dir . && npm ci --no-audit --no-fund --omit=dev
ENV FLASK_APP=app
USER nobody
