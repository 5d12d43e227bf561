# syntax=docker/dockerfile:1
#
# The txmon image: the `txmon` command with the dbt project inside the installed package
# (pyproject.toml force-includes dbt_project.yml, profiles.yml, models/, macros/, seeds/, ...
# into the wheel), so nothing else is copied. One image runs every txmon service:
#
#   docker build -t txmon .
#   docker run --rm -e TXMON_DATABASE_URL=postgresql://... txmon                  # the scheduler
#   docker run --rm -e TXMON_DATABASE_URL=... -e TXMON_API_TOKEN=... -p 127.0.0.1:8000:8000 \
#       txmon serve --host 0.0.0.0 --port 8000                                    # the API
#
# docker-compose.yml runs both next to PostgreSQL and Superset. There is no HEALTHCHECK here:
# the API has GET /health, the scheduler has nothing generic to probe, so each service gets
# its own check in docker-compose.yml.

FROM python:3.11-slim-bookworm

# Optional extras of the txmon package to install, comma-separated (e.g. --build-arg
# TXMON_EXTRAS=dev for the test and lint tools).
ARG TXMON_EXTRAS=""

# TXMON_HOME holds dbt's artefacts and logs: a volume owned by the txmon user. dbt sends no
# usage pings (it would also try to write .user.yml into the read-only packaged project).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TXMON_HOME=/var/lib/txmon \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

RUN groupadd --system --gid 10001 txmon \
    && useradd --system --uid 10001 --gid txmon --home-dir /var/lib/txmon --no-create-home \
        --shell /usr/sbin/nologin txmon \
    && install -d -o txmon -g txmon -m 0750 /var/lib/txmon

# `pip install .` of the build context (filtered by .dockerignore), mounted rather than copied
# so that the sources stay out of the image. The check after it fails the build if the dbt
# project did not make it into the installed package.
# hadolint ignore=DL3013
RUN --mount=type=bind,target=/tmp/txmon-src,rw \
    pip install --no-cache-dir "/tmp/txmon-src${TXMON_EXTRAS:+[$TXMON_EXTRAS]}" \
    && python -c "import sys; from txmon.core.paths import dbt_project_dir; p = dbt_project_dir() / 'dbt_project.yml'; sys.exit(0 if p.is_file() and 'site-packages' in str(p) else f'no packaged dbt project: {p}')" \
    && txmon --version

WORKDIR /var/lib/txmon
USER 10001:10001
VOLUME ["/var/lib/txmon"]
EXPOSE 8000

ENTRYPOINT ["txmon"]
CMD ["run", "--every", "60s"]
