# One image for the three services; the compose file picks the service by its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# OCR: Tesseract with German and English, Ghostscript for PDF/A (used by OCRmyPDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng ghostscript fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY devstack ./devstack
COPY eakte_cli ./eakte_cli
COPY config ./config
RUN pip install . && useradd --system --uid 10001 --home /data eakte && mkdir -p /data && chown eakte /data
USER eakte
ENV EAKTE_DATA_DIR=/data EAKTE_HOST=0.0.0.0 EAKTE_FILE_PLAN=/app/config/aktenplan.yaml
CMD ["python", "-m", "services.ingest"]
