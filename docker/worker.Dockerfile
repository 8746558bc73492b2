# syntax=docker/dockerfile:1
# Verity GPU worker image.
#
#   docker build -f docker/worker.Dockerfile -t verity-worker:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# NVIDIA publishes no Debian variant of nvidia/cuda, so both stages use the
# Ubuntu 22.04 images (tag pattern <CUDA_VERSION>-{devel,runtime}-ubuntu22.04,
# e.g. nvidia/cuda:13.0.1-runtime-ubuntu22.04; check the tag exists on Docker
# Hub before building). Ubuntu 22.04 ships the same NNG 1.5.2 and hiredis
# 0.14.1 as Debian 12, and the same runtime package names; its msgpack-c is
# 3.3.0 (Debian 12: 4.0.0), whose C API Verity uses identically.
# The binary also runs without a GPU (cudaGetDeviceCount fails, it falls back
# to the CPU engine), so --device auto is safe everywhere.
# CI does not build this image; helm/test lints it.

ARG CUDA_VERSION=13.0.1
ARG UBUNTU_VERSION=22.04

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libnng-dev libhiredis-dev libmsgpack-dev libsodium-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DVT_TEST_FAULTS=OFF \
      -DVT_CUDA=ON -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
      -DVT_SKIP="helm;bench;tests;scheduler;verifier;memsync;cli" \
 && cmake --build /build -j"$(nproc)" --target verity-worker

FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS worker
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CUDA_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnng1 libhiredis0.14 libmsgpackc2 libsodium23 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 verity \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin verity
LABEL org.opencontainers.image.title="verity-worker" \
      org.opencontainers.image.description="Verity worker: runs inference jobs on CUDA or CPU" \
      org.opencontainers.image.vendor="Verity" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/verity-project/verity" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu22.04"
# The NVIDIA container toolkit mounts the driver; these select what it exposes.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build /build/bin/verity-worker /usr/local/bin/verity-worker
USER 10001:10001
EXPOSE 9401
ENTRYPOINT ["/usr/local/bin/verity-worker"]
