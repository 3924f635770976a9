# The image Claude Code mode runs the `claude` CLI in (`claude.isolation = "docker"`).
#
# Build it with `ccproxy docker build-image`, or by hand:
#   docker build -t ccproxy-claude-code:latest -f docker/claude-code.Dockerfile docker
#
# The contract CCProxy needs of any image (docs/docker.md): `claude` on PATH, runnable as a
# non-root user (uid 1000 unless `claude.docker.user` says otherwise). CCProxy runs it with a
# read-only root filesystem and its own tmpfs home, so nothing else is required.

# A Node.js base with npm (Debian's slim Node image by default).
ARG BASE=node:22-bookworm-slim
FROM ${BASE}

# The Claude Code version CCProxy is tested with.
ARG CLAUDE_CODE_VERSION=2.1.331

# git and certificates for the CLI's tools; the CLI itself from npm, pinned.
RUN if command -v apt-get >/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         ca-certificates git \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && npm install -g --no-audit --no-fund "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
    && npm cache clean --force \
    && claude --version \
    && (getent passwd 1000 >/dev/null || useradd --uid 1000 --create-home claude)

LABEL org.opencontainers.image.title="CCProxy: Claude Code CLI" \
      org.opencontainers.image.description="The claude CLI for CCProxy's Claude Code mode in a container"
USER 1000
CMD ["claude", "--version"]
