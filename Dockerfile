# syntax=docker/dockerfile:1
# shardsfu in a container. Build:   docker build -t shardsfu .
# Run (io_uring must be allowed: Docker 25+ denies io_uring_* in its default
# seccomp profile, and shardsfu then exits with one line saying so):
#   docker run --rm --network host \
#     --security-opt seccomp=unconfined --ulimit memlock=67108864 \
#     -e CANDIDATE=203.0.113.7 shardsfu
# Instead of seccomp=unconfined, a profile of your own: Docker's default
# profile with io_uring_setup, io_uring_enter and io_uring_register added to
# the allowed calls (--security-opt seccomp=/path/to/profile.json).
# Without --network host publish 1935/tcp 1985/tcp 8080/tcp 8000/udp and set
# CANDIDATE to an address clients can reach. Logs go to stderr (docker logs);
# -e SRS_LOG_FORMAT=json makes them JSON lines, -e SRS_LOG_LEVEL=warn quieter.

FROM rust:1-slim-bookworm AS build
# Every codec is a crate; the only C/C++ is the FDK AAC encoder's, which
# fdk-aac-sys compiles with the system's c++ (the image has gcc, not g++).
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin shardsfu \
 && install -D -m 755 target/release/shardsfu /out/shardsfu

FROM debian:bookworm-slim
# The binary needs only libc6 and libgcc-s1, which the image has (the
# .deb's Depends, from dpkg-shlibdeps, names libc6 alone).
RUN useradd --system --home-dir /var/lib/shardsfu --create-home --shell /usr/sbin/nologin shardsfu
COPY --from=build /out/shardsfu /usr/bin/shardsfu
COPY configs/rtc.conf /etc/shardsfu/rtc.conf
USER shardsfu
WORKDIR /var/lib/shardsfu
# RTMP, HTTP API, HTTP server, WebRTC (UDP).
EXPOSE 1935/tcp 1985/tcp 8080/tcp 8000/udp
# SIGTERM (docker stop) closes the sessions and exits 0 within 2 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/shardsfu"]
CMD ["-c", "/etc/shardsfu/rtc.conf"]
