# syntax=docker/dockerfile:1
# Calldex container image: the calldex server (every role) and calldexctl,
# static binaries on distroless/static, running as a non-root user.
#
#   docker build -t calldex .
#   docker run -p 8080:8080 calldex            # the demo (embedded NATS, in-process index)

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Module files first: the download layer is kept while only code changes.
COPY events/go.mod events/
COPY shared/go.mod shared/go.sum shared/
COPY workflows/go.mod workflows/go.sum workflows/
COPY services/go.mod services/go.sum services/
COPY deploy/go.mod deploy/go.sum deploy/
RUN --mount=type=cache,target=/go/pkg/mod cd services && GOWORK=off go mod download
COPY events events
COPY shared shared
COPY workflows workflows
COPY services services
COPY deploy/probe deploy/probe
# Static binaries: no cgo (the SQLite driver is modernc.org/sqlite, pure Go),
# no build paths, no symbol tables. The services module builds on its own.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOWORK=off go build -C services -trimpath -buildvcs=false -ldflags="-s -w" -o /out/ ./calldex ./calldexctl && \
    CGO_ENABLED=0 GOWORK=off go build -C deploy -trimpath -buildvcs=false -ldflags="-s -w" -o /out/calldex-probe ./probe
# The data directory, owned by the runtime user (distroless nonroot, 65532).
RUN mkdir -p /out/data && chown 65532:65532 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="calldex" \
      org.opencontainers.image.description="Caller lookup for phone systems from a Redis-hot contact index, durable CRM workflows over NATS JetStream, CRM contact sync" \
      org.opencontainers.image.source="https://github.com/calldex/calldex" \
      org.opencontainers.image.url="https://github.com/calldex/calldex" \
      org.opencontainers.image.documentation="https://github.com/calldex/calldex/blob/main/deploy/README.md" \
      org.opencontainers.image.vendor="Calldex" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/calldex /out/calldexctl /out/calldex-probe /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /var/lib/calldex
# The demo configuration and contacts: calldex has them built in; this copy is
# for calldexctl (the compose seed job imports the contacts).
COPY deploy/demo /app/deploy/demo
WORKDIR /app
ENV CALLDEX_HTTP_ADDR=:8080 \
    CALLDEX_DATA_DIR=/var/lib/calldex
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 CMD ["/usr/local/bin/calldex-probe", "http://127.0.0.1:8080/readyz"]
VOLUME ["/var/lib/calldex"]
ENTRYPOINT ["/usr/local/bin/calldex"]
