# syntax=docker/dockerfile:1
# authd image: `docker build -t authd .` or `docker compose up -d --build`.
# The build caches the cargo registry and target/ in BuildKit cache mounts, so a rebuild
# after a source change recompiles only the workspace crates, not every dependency.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# target/ lives in a cache mount, so the binary is copied out within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p authd \
    && install -m 0755 target/release/authd /usr/local/bin/authd

FROM debian:bookworm-slim AS runtime
# ca-certificates for TLS to SMTP and OAuth providers; curl for the compose healthcheck;
# libssl3 for webauthn-rs (passkeys), which links OpenSSL.
# Unpinned on purpose: bookworm's current packages carry its security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
    && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged uid; its home holds the embedded SQLite database
# (DATABASE_URL defaults to sqlite://authd.db?mode=rwc, relative to the WORKDIR).
RUN groupadd --system --gid 10001 authd \
    && useradd --system --uid 10001 --gid authd --home-dir /var/lib/authd --shell /usr/sbin/nologin authd \
    && install -d -o authd -g authd -m 0750 /var/lib/authd
COPY --from=builder /usr/local/bin/authd /usr/local/bin/authd
USER 10001:10001
WORKDIR /var/lib/authd
ENV AUTHD_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/authd"]
CMD ["serve"]
