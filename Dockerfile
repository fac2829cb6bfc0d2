# One image for every part: the coordinator and copier tasks (ECS Fargate) run `s3migrator
# coordinator|copier`; the progress function (Lambda) overrides the entry point with the runtime
# interface client. Build: `make image`. Multi-arch: docker buildx build --platform linux/arm64.
#
# Nothing that goes into the image is taken on a name alone. The base image is pinned by the
# digest of its tag's multi-arch index (the same digest for arm64 and x86_64), because a tag can
# be moved to other content and a digest cannot; to move on, take the new digest from
# `docker buildx imagetools inspect python:3.11.10-slim-bookworm` (or a newer tag) and change both
# FROM lines. Python packages come from the locks under requirements/ (`make lock`): every
# version pinned and every file checked against its hash.
FROM python:3.11.10-slim-bookworm@sha256:840e180ebcc6e5c8efab209c43f5e40fd2af98cb49db5c7103c90539c56bb30e AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# --no-deps: the lock is the whole set, nothing is resolved here. --only-binary: every locked
# version has wheels for both architectures, so no package's own build code runs.
COPY requirements ./requirements
RUN python -m venv /opt/s3migrator \
 && /opt/s3migrator/bin/pip install --require-hashes --no-deps --only-binary :all: \
      -r requirements/image.txt
# The build backend has its own lock and environment: the project's wheel is built without
# build isolation (which would fetch setuptools unchecked), and setuptools stays out of the image.
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary :all: \
      -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY s3migrator ./s3migrator
COPY coordinator ./coordinator
COPY copier ./copier
COPY progress ./progress
COPY infra ./infra
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /wheels . \
 && /opt/s3migrator/bin/pip install --no-deps --no-index /wheels/s3migrator-*.whl

FROM python:3.11.10-slim-bookworm@sha256:840e180ebcc6e5c8efab209c43f5e40fd2af98cb49db5c7103c90539c56bb30e
ENV PATH=/opt/s3migrator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/s3migrator /opt/s3migrator
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin s3migrator
USER 10001
WORKDIR /tmp
ENTRYPOINT ["s3migrator"]
CMD ["copier"]
