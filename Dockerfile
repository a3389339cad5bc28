# syntax=docker/dockerfile:1
# The 12345 intake gateway: a static binary on a distroless base.
#   docker build -t intake-gateway .
#   docker run -p 8080:8080 -v gateway-data:/data intake-gateway
# The embedded Kafka broker listens on 127.0.0.1:9092 inside the container;
# to reach it from outside set GATEWAY_KAFKA_EMBEDDED_ADDR=0.0.0.0:9092,
# GATEWAY_KAFKA_EMBEDDED_ADVERTISE=<the host clients dial>:9092 and publish
# the port, or configure GATEWAY_KAFKA_BROKERS for a real cluster.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /out/gateway ./cmd/gateway \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /usr/local/bin/gateway
# The data directory must belong to the unprivileged user (uid 65532).
COPY --from=build --chown=65532:65532 /out/data /data
ENV GATEWAY_DATA_DIR=/data \
    GATEWAY_HTTP_ADDR=:8080
VOLUME /data
EXPOSE 8080
USER 65532:65532
# The binary probes itself (the base image has no curl): /healthz on the
# configured port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["/usr/local/bin/gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gateway"]
