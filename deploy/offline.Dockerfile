# The offline build of the reward service's image (no registry): BASE_IMAGE is a Debian
# bookworm image imported from a debootstrap tree, the Python packages come from a local
# wheelhouse in the build context. `bash deploy/compose.sh build` makes both and builds this;
# `make up` and CI use it (deploy/compose.offline.yml). The Dockerfile at the top is the
# default build (a public base image and PyPI); both give the same image.
#   docker build -f deploy/offline.Dockerfile --build-arg BASE_IMAGE=reward-base:bookworm \
#                --build-arg WHEELHOUSE=deploy/.build/wheelhouse -t reward-service:local .

ARG BASE_IMAGE=reward-base:bookworm
# The code sandbox's languages (space- or comma-separated), Python always: their Debian
# packages (from the base image's apt sources when the base lacks them) and their parts of
# the runtime directory.
ARG LANGUAGES="c cpp java javascript typescript go rust bash"

# ---------------------------------------------------------------- deps: the virtualenv
# Its first steps are the runtime stage's, so both get the same layer (one apt run, the same
# toolchains the runtime directory is built with and run by).
FROM ${BASE_IMAGE} AS deps
ARG LANGUAGES
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY deploy/system-packages.sh /usr/local/sbin/reward-system-packages
RUN sh /usr/local/sbin/reward-system-packages
RUN sh /usr/local/sbin/reward-system-packages --build
ARG WHEELHOUSE=deploy/.build/wheelhouse
COPY ${WHEELHOUSE} /wheels
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels /wheels/*.whl
# The runtime directory, as `make install` builds it: site-packages from the wheelhouse,
# js-md5 from its tarball (deploy/.build/node, which compose.sh fetches with npm; without
# it the glob copies only the script, and the runtime directory goes without js-md5).
COPY scripts/build_runtime.sh /src/scripts/build_runtime.sh
COPY sandbox/runtime-requirements.txt /src/sandbox/runtime-requirements.txt
COPY sandbox/toolchains /src/sandbox/toolchains
COPY deploy/system-packages.sh deploy/.build/nod[e] /tmp/node/
RUN bash /src/scripts/build_runtime.sh --pip /opt/venv/bin/pip --pip-args "--no-index --find-links /wheels" \
      --node-tarballs /tmp/node /opt/sandbox-runtime

# ---------------------------------------------------------------- project: its wheels
# The service and its client (client/, a distribution of its own), both from this source.
FROM deps AS project
COPY . /src
RUN rm -rf /src/deploy/.build \
 && /opt/venv/bin/pip wheel --no-index --find-links /wheels --no-deps -w /dist /src/client /src

# ---------------------------------------------------------------- runtime
# Layers: system packages, the dependencies (change with the wheelhouse), then the project.
FROM ${BASE_IMAGE}
ARG LANGUAGES
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY deploy/system-packages.sh /usr/local/sbin/reward-system-packages
RUN sh /usr/local/sbin/reward-system-packages
COPY --from=deps /opt/venv /opt/venv
COPY --from=deps /opt/sandbox-runtime /opt/sandbox-runtime
COPY --from=project /dist /dist
RUN /opt/venv/bin/pip install --no-index --no-deps /dist/*.whl && rm -rf /dist
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
