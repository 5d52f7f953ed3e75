# One image for every part of the CRM: the gateway, each service's API (gunicorn) and
# each service's worker (`crm worker SERVICE`). docker-compose.yml and deploy/k8s/ pick
# the role with the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The CJK TrueType font the customer service's PDF prints embed (services/customer/printing.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first, read from pyproject.toml alone, so that a code change reuses this
# (slow) layer.
COPY pyproject.toml /src/pyproject.toml
RUN python -c "import tomllib; deps = tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The packages pyproject.toml installs ([tool.setuptools.packages.find] include), then
# the sources go: the processes run the installed copy.
COPY crm /src/crm
COPY crmkit /src/crmkit
COPY events /src/events
COPY gateway /src/gateway
COPY services /src/services
RUN pip install --no-deps /src && rm -rf /src

RUN groupadd --system --gid 10001 crm \
 && useradd --system --uid 10001 --gid crm --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin crm

WORKDIR /app
# gunicorn configs and the container health check; nothing here is writable by the app.
COPY deploy/gunicorn /app/deploy/gunicorn
COPY deploy/healthcheck.py /app/deploy/healthcheck.py

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

EXPOSE 8000 8080
CMD ["gunicorn", "--config", "deploy/gunicorn/gateway.conf.py"]
