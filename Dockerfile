FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RAGMETER_DB=sqlite:////data/ragmeter.db
RUN useradd --create-home --uid 10001 ragmeter && mkdir /data && chown ragmeter /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY metrics ./metrics
COPY service ./service
RUN pip install .

USER ragmeter
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["ragmeter", "serve", "--host", "0.0.0.0", "--port", "8000"]
