# One image for every part: the coordinator and copier tasks (ECS Fargate) run `s3migrator
# coordinator|copier`; the progress function (Lambda) overrides the entry point with the runtime
# interface client. Build: `make image`. Multi-arch: docker buildx build --platform linux/arm64.
FROM python:3.11.10-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY s3migrator ./s3migrator
COPY coordinator ./coordinator
COPY copier ./copier
COPY progress ./progress
COPY infra ./infra
RUN python -m venv /opt/s3migrator \
 && /opt/s3migrator/bin/pip install '.[lambda]'

FROM python:3.11.10-slim-bookworm
ENV PATH=/opt/s3migrator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/s3migrator /opt/s3migrator
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin s3migrator
USER 10001
WORKDIR /tmp
ENTRYPOINT ["s3migrator"]
CMD ["copier"]
