# syntax=docker/dockerfile:1
# One application image for the actions server, gateway, care scheduler and migrations.
# Rasa itself runs from the official rasa/rasa:3.6.21-full image (it needs Python 3.10 and
# pins old libraries), see docker-compose.yml.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: compilers live here only ---------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Some pinned wheels may lack a build for this platform; the compiler stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from the pinned lock file, so code changes do not reinstall them.
COPY requirements/app.lock.txt requirements/app.lock.txt
RUN pip install -r requirements/app.lock.txt
# Then the project itself, without resolving anything again (the lock file is the truth).
COPY . .
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib

# ---- runtime: no compilers, no pip cache, non-root -----------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="bankcare" \
      org.opencontainers.image.description="农商行智能客服与客户关怀助手 (actions, gateway, scheduler)"
# tzdata: APScheduler and the calendar work in Asia/Shanghai; slim images do not ship zone files.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bankcare \
    && useradd --system --uid 10001 --gid bankcare --home-dir /app --shell /usr/sbin/nologin bankcare
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Code and data (migrations, FAQ knowledge base, templates) owned by root: the app cannot modify itself.
COPY . /app
RUN mkdir -p /app/var && chown bankcare:bankcare /app/var
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json \
    GATEWAY_HOST=0.0.0.0 \
    TZ=Asia/Shanghai
USER 10001:10001
EXPOSE 8080 5055
CMD ["python", "-m", "gateway"]
