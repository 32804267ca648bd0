ARG BASE_IMAGE=alpine:3.20
ARG VERSION=dev
FROM ${BASE_IMAGE} AS base
ARG VERSION
LABEL org.opencontainers.image.version=$VERSION

FROM base AS test
RUN echo testing $VERSION

FROM base AS release
ARG TARGETPLATFORM BUILDPLATFORM
RUN echo "building on $BUILDPLATFORM for $TARGETPLATFORM" > /build-info
ARG EMPTY= QUOTED="a b c"

FROM release
