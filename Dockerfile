# Webcare router: API, web interface and worker in one image.
# Build:   docker build -t webcare-router .
# Migrate: docker run --rm -e WEBCARE_DATABASE_URL=... webcare-router webcare migrate
# Serve:   docker run -p 8000:8000 -e WEBCARE_DATABASE_URL=... -e WEBCARE_SECRET_KEY=... webcare-router
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    WEBCARE_ENVIRONMENT=production \
    WEBCARE_MODEL_PATH=/app/model

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY models ./models
COPY classifier ./classifier
COPY service ./service
COPY alembic ./alembic
COPY alembic.ini ./
COPY fixtures ./fixtures
RUN pip install -c constraints.txt -e . \
    && useradd --system --uid 10001 --home-dir /app webcare

# The model is trained at build time from the fixtures and checked by loading it, so a bad model fails the build.
RUN WEBCARE_ENVIRONMENT=development webcare train \
    && python -c "import classifier; print(classifier.load_model('/app/model').version)" \
    && chown -R webcare /app/model

USER webcare
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"

# Migrations are a separate start step (`webcare migrate`), run once per release, not by every replica.
CMD ["webcare", "serve", "--host", "0.0.0.0", "--port", "8000"]
