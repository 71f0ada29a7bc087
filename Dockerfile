# The hub's container image. Build: docker build -t ketenhub .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --home-dir /srv/ketenhub --create-home ketenhub
WORKDIR /opt/ketenhub
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY storage ./storage
COPY auth ./auth
COPY audit ./audit
RUN pip install .

USER ketenhub
ENV KETENHUB_DATA_DIR=/srv/ketenhub
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["ketenhub", "serve", "--host", "0.0.0.0", "--port", "8000"]
