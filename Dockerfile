# ragmeter serve on 0.0.0.0:8000, embedded judge by default, batch state in the /data volume.
#
#   docker build -t ragmeter .          # needs BuildKit: the default from docker 23; DOCKER_BUILDKIT=1 before
#   docker run -p 8000:8000 -v ragmeter-data:/data -e RAGMETER_API_KEYS='{"me": "a-long-secret"}' ragmeter
#
# BASE_IMAGE is any Debian-like image with python3 >= 3.11 and its venv module: the public python:3.11-slim (python
# in /usr/local) or Debian bookworm's own python3 (in /usr). Both stages use the same base, so the venv's links to
# the interpreter hold whichever it is.
# Behind a TLS-intercepting proxy, pass its CA as a build secret (never baked into the image):
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt ...
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# Dependencies (and the build backend) first, from pyproject.toml alone, so that a code change does not reinstall
# them; the package itself then builds offline.
WORKDIR /src
COPY pyproject.toml ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && /opt/venv/bin/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
           print('\\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY README.md ./
COPY metrics ./metrics
COPY service ./service
# Everything it needs is installed above. Then drop what only installing needs, the test suites that wheels ship,
# and pyarrow's Flight RPC and S3 filesystem (50 MB; nothing loads them: parquet files are read and written locally,
# and pyarrow.fs leaves S3 out when its module is missing). bench/docker_drill.py downloads parquet from the image.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip uninstall -y -q pip setuptools \
    && cd "$(/opt/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")" \
    && rm -rf pandas/tests numpy/tests numpy/*/tests pyarrow/tests pyarrow/_pyarrow_cpp_tests.* \
              pyarrow/include pyarrow/src pyarrow/*.pyx pyarrow/*.pxd \
              pyarrow/*flight* pyarrow/*_s3* /opt/venv/bin/Activate.ps1
# The encoder's integer-product model, derived now (about 3 s) rather than at every container start.
RUN RAGMETER_MODEL_CACHE=/opt/ragmeter-models /opt/venv/bin/python -c \
        "from ragmeter.metrics.judges.embedded.encoder import QUANTIZED_LABEL, Encoder; \
         assert Encoder.load().label == QUANTIZED_LABEL, 'the encoder model could not be quantized'"

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RAGMETER_DB=sqlite:////data/ragmeter.db RAGMETER_MODEL_CACHE=/opt/ragmeter-models
# A fixed uid, so a bind-mounted /data can be given to it: chown 10001 DIR.
RUN useradd --no-create-home --home-dir /data --shell /usr/sbin/nologin --uid 10001 ragmeter \
    && mkdir /data && chown ragmeter:ragmeter /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/ragmeter-models /opt/ragmeter-models
USER ragmeter
# The working directory is the volume: a ragmeter.toml there (`ragmeter calibrate --write`) is read.
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["ragmeter", "serve", "--host", "0.0.0.0", "--port", "8000"]
