# syntax=docker/dockerfile:1
#
# Tessera in one image: `docker compose up` (see docker-compose.yml), or
#   docker build -t tessera .
#   docker run --rm -e DATABASE_URL=postgres://... tessera migrate
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://... tessera

# Front-end packages from npm, exactly as package-lock.json pins them
# (what `make static` does).
FROM node:24-slim AS static
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && mkdir -p static/assets/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js static/assets/vendor/

# A static binary, with the assets and migrations embedded.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=static /src/static/assets/vendor/htmx.min.js static/assets/vendor/htmx.min.js
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/tessera ./cmd/tessera

# Debian slim for CA certificates (OIDC providers, Entra ID, LDAPS) and curl
# for the health check; Tessera runs as an unprivileged user.
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tessera \
 && useradd --system --uid 10001 --gid tessera --home-dir /var/lib/tessera --create-home --shell /usr/sbin/nologin tessera
COPY --from=build /out/tessera /usr/local/bin/tessera
USER 10001:10001
WORKDIR /var/lib/tessera
ENV TESSERA_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["tessera"]
CMD ["serve"]
