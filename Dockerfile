# The headless server: `ccproxy serve` in a small non-root image, configured by environment.
#
#   docker build -t ccproxy .
#   docker run -d -p 127.0.0.1:8000:8000 -e AUTH_TOKEN=$(ccproxy generate-token | head -1) \
#     -v ccproxy-data:/data ccproxy
#
# Inside the container the server listens on 0.0.0.0, so an API token (AUTH_TOKEN) is required:
# without one it refuses to start. Log in once with `docker exec -it <container> ccproxy auth
# login`, or mount a credentials file (docs/docker.md). docker-compose.yml shows a full set-up.

# The Rust toolchain to build with, and the image to run on (both Debian bookworm).
ARG BUILDER=rust:1-bookworm
ARG BASE=debian:bookworm-slim
# Where the binary comes from: the `build` stage below (default), or an image that already has
# it at /out/ccproxy (a CI build).
ARG BINARY_FROM=build

FROM ${BUILDER} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ccproxy-cli \
    && install -D target/release/ccproxy /out/ccproxy

FROM ${BINARY_FROM} AS binary

FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --home-dir /data --create-home ccproxy
COPY --from=binary /out/ccproxy /usr/local/bin/ccproxy
# Everything the server keeps — its login, the request log, settings — lives under /data.
ENV HOME=/data \
    XDG_CONFIG_HOME=/data/config \
    XDG_DATA_HOME=/data/share \
    HOST=0.0.0.0 \
    PORT=8000
VOLUME /data
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 CMD ["ccproxy", "health"]
ENTRYPOINT ["ccproxy"]
CMD ["serve"]
