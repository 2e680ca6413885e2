FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md alembic.ini ./
COPY alembic ./alembic
COPY nexus_sync ./nexus_sync
COPY tasks ./tasks
COPY connectors ./connectors
# the same exact versions as `make install` and CI (requirements.lock as constraints)
RUN pip install --no-cache-dir -c requirements.lock .
USER nobody
CMD ["nexus-sync", "worker"]
