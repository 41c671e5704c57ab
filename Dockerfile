# BillFlow's image: the runtime only (no demo, test or dev extras), run as a non-root user.
# No secret is baked in: upstream credentials, BILLFLOW_MASTER_KEY, BILLFLOW_JWT_SECRET and
# BILLFLOW_SMTP_PASSWORD come from the environment at run time (docker-compose.yml takes them
# from .env). tests/test_compose.py checks this file against scripts/_venv.sh and the compose
# setup.
#
#   docker compose up -d --build        # or: docker build -t billflow .
FROM python:3.11-slim-bookworm

# fonts-dejavu-core: DejaVu Sans has the rupee sign for invoice PDFs (billing/invoice_pdf.py
# looks in /usr/share/fonts/truetype/dejavu/; without it invoices say "Rs."). tzdata: the billing
# clock's [billing] timezone, read through zoneinfo.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core tzdata ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so a bind-mounted data directory can be chowned to it (chown 10001:10001).
RUN groupadd --system --gid 10001 billflow \
    && useradd --system --uid 10001 --gid billflow --no-create-home \
        --home-dir /var/lib/billflow --shell /usr/sbin/nologin billflow

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH="/opt/billflow/venv/bin:$PATH" \
    BILLFLOW_CONFIG=/etc/billflow/config.toml

# Only what `pip install .` builds from: pyproject.toml and the two packages it lists.
WORKDIR /opt/billflow/src
COPY pyproject.toml ./
COPY proxy ./proxy
COPY billing ./billing
# The same steps scripts/run takes (scripts/_venv.sh, ensure_venv): a venv, pip upgraded, then
# BillFlow installed with the same pip options; here without an extra (scripts/run installs
# `-e .[demo]`, which adds moto and aws-cli) and not editable.
RUN python3 -m venv /opt/billflow/venv \
    && /opt/billflow/venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
    && /opt/billflow/venv/bin/python -m pip install --quiet --disable-pip-version-check . \
    && /opt/billflow/venv/bin/billflow --help >/dev/null

# The compose config (docker-compose.yml also mounts deploy/config.toml over it read-only).
COPY deploy/config.toml /etc/billflow/config.toml

# The ledger and invoice PDFs (deploy/config.toml): a new named volume mounted here starts as a
# copy of this directory, owned by billflow, so the non-root user can write to it.
RUN mkdir -p /var/lib/billflow/invoices \
    && chown -R billflow:billflow /var/lib/billflow \
    && chmod 0750 /var/lib/billflow

USER 10001:10001
WORKDIR /var/lib/billflow

# S3 for tenants, and the admin API with /healthz and /metrics ([s3.listen] and [admin] in
# deploy/config.toml).
EXPOSE 9000 9001

# /healthz answers 200 when the ledger does; the port is [admin] port in deploy/config.toml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9001/healthz', timeout=4)"]

# Exec form: billflow is PID 1 and receives SIGTERM itself (drain, flush the meter, exit).
# Other commands run the same way: `docker compose exec billflow billflow tenant create acme`.
ENTRYPOINT ["billflow"]
CMD ["serve"]
