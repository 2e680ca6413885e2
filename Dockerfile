FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY nexus_sync ./nexus_sync
COPY tasks ./tasks
COPY connectors ./connectors
RUN pip install --no-cache-dir .
USER nobody
CMD ["nexus-sync", "worker"]
