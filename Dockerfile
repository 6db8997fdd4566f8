# One image for every role of the reward service; the command picks the role:
#   reward serve    the HTTP API            reward worker    an RQ worker
#   redis-server    the queue (the image ships Redis; any redis image works too)
#
# The default build: a public Debian bookworm image and the Python packages from PyPI, so
# `docker compose up` works from a fresh clone wherever images and packages can be pulled:
#   docker build -t reward-service:local .
# Without a registry, deploy/offline.Dockerfile builds the same image from a locally made
# base and a local wheelhouse (`make up`, `bash deploy/compose.sh build`; docs/deployment.md).

ARG BASE_IMAGE=debian:bookworm-slim
# The code sandbox's languages (space- or comma-separated), Python always: their Debian
# packages and their parts of the runtime directory (docs/deployment.md has each one's size).
ARG LANGUAGES="c cpp java javascript typescript go rust bash"

# ---------------------------------------------------------------- build: the virtualenv
# Its first steps are the runtime stage's, so both get the same layer (one apt run, the same
# toolchains the runtime directory is built with and run by).
FROM ${BASE_IMAGE} AS build
ARG LANGUAGES
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY deploy/system-packages.sh /usr/local/sbin/reward-system-packages
RUN sh /usr/local/sbin/reward-system-packages
RUN sh /usr/local/sbin/reward-system-packages --build
# Python's headers, in this stage only: a few dependencies (pycosat, under reasoning-gym)
# come from PyPI as source and compile here.
RUN dpkg -s python3-dev >/dev/null 2>&1 \
 || { apt-get update && apt-get install -y --no-install-recommends python3-dev && rm -rf /var/lib/apt/lists/*; }
# A CA bundle for pip when a TLS-intercepting proxy stands between the build and PyPI:
# deploy/compose.sh puts the host's pip certificate at deploy/.build/pip-ca.crt; without it
# the glob copies nothing but the script. It stays in this stage, out of the final image.
COPY deploy/system-packages.sh deploy/.build/pip-ca.cr[t] /tmp/reward-build/
RUN if [ -f /tmp/reward-build/pip-ca.crt ]; then printf '[global]\ncert = /tmp/reward-build/pip-ca.crt\n' >/etc/pip.conf; fi
# The dependencies first (a layer that changes with pyproject.toml only), then the project.
# The client (client/, its own distribution, whose one dependency the service pins too) is
# installed from source with the project below, so it is left out of this list.
COPY pyproject.toml README.md /src/
RUN python3 -m venv /opt/venv \
 && python3 -c "import tomllib; print('\n'.join(d for d in tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies'] if not d.startswith('verifiable-reward-client')))" >/tmp/requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt
# The runtime directory programs in the sandbox see (Python's site-packages, a warm Go build
# cache, prebuilt Rust crates, Node modules, the TypeScript transpiler), built as `make
# install` builds it; npm is not in the image, so js-md5 comes as its tarball (checked).
COPY scripts/build_runtime.sh /src/scripts/build_runtime.sh
COPY sandbox/runtime-requirements.txt /src/sandbox/runtime-requirements.txt
COPY sandbox/toolchains /src/sandbox/toolchains
ADD https://registry.npmjs.org/js-md5/-/js-md5-0.7.3.tgz /tmp/reward-build/node/
RUN bash /src/scripts/build_runtime.sh --pip /opt/venv/bin/pip --node-tarballs /tmp/reward-build/node /opt/sandbox-runtime
COPY sandbox /src/sandbox
COPY services /src/services
COPY reward_server /src/reward_server
COPY client /src/client
COPY trainer /src/trainer
COPY loadtest /src/loadtest
COPY evaluation /src/evaluation
COPY generators /src/generators
RUN /opt/venv/bin/pip install --no-deps /src/client /src

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}
ARG LANGUAGES
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY deploy/system-packages.sh /usr/local/sbin/reward-system-packages
RUN sh /usr/local/sbin/reward-system-packages
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/sandbox-runtime /opt/sandbox-runtime
COPY deploy/healthcheck.py /usr/local/lib/reward/healthcheck.py
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    REWARD_SANDBOX_RUNTIME=/opt/sandbox-runtime \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REWARD_HOST=0.0.0.0 \
    REWARD_PORT=8000
# An empty working directory: settings come from the environment (a .env here is read too).
WORKDIR /srv/reward
# Root inside the container on purpose: the process sandbox needs it to create namespaces
# and to drop every run to its own unprivileged uid. The container is the outer wall.
EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["reward", "serve"]
