# syntax=docker/dockerfile:1

# member-portal container image.
#
#   docker build -t member-portal .
#   docker run --rm -p 8080:8080 \
#     -e DATABASE_URL=mysql://USER:PASSWORD@HOST:3306/member_portal member-portal
#
# The build context is limited by .dockerignore to what `cargo build` reads
# (manifests, lock file, src/, templates/, static/, sql/, crates/, ...).
# Templates (askama) and static CSS are compiled into the binary, so the
# runtime image needs nothing from the source tree.

############################ builder ############################
FROM rust:1-bookworm AS builder

WORKDIR /usr/src/member-portal
COPY . .

# Dependencies are cached across builds in BuildKit cache mounts: the cargo
# registry/git checkouts and the target directory (so only changed crates are
# recompiled). A cache mount is not part of the image, hence the copy-out of
# the binary to /out inside the same RUN.
RUN --mount=type=cache,id=member-portal-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=member-portal-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=member-portal-target,target=/usr/src/member-portal/target,sharing=locked \
    cargo build --release --locked --bin member-portal \
 && install -D -m 0755 target/release/member-portal /out/member-portal

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

# ca-certificates: outbound TLS trust store; curl: HEALTHCHECK;
# zlib1g: flate2 (via mysql_async/actix-http) links the system libz.so.1 when
# the builder has zlib1g-dev, as rust:1-bookworm does (already in slim; listed
# so the dependency is explicit). No OpenSSL: MySQL is spoken over plain TCP.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl zlib1g \
 && rm -rf /var/lib/apt/lists/*

# Unprivileged user with a fixed uid/gid (numeric USER below so that
# "runAsNonRoot"-style checks can verify it).
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=builder /out/member-portal /usr/local/bin/member-portal

# Empty, root-owned working directory: the app only reads (an optional .env).
WORKDIR /app
# Development without SMTP_URL writes each mail as a file: somewhere the app user may write.
ENV MAIL_DIR=/tmp/mail
USER 10001:10001

ENV BIND=0.0.0.0:8080
EXPOSE 8080

# /healthz answers 200 "ok" only when MySQL answers. The start period covers
# database creation and migrations at start. (Port 8080 matches BIND above:
# change both together.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS --max-time 4 http://127.0.0.1:8080/healthz || exit 1

# The app is PID 1 (exec-form ENTRYPOINT) and shuts down gracefully on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["member-portal"]
CMD ["serve"]
