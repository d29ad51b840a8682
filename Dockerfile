# Colo's image: the statically linked `colo` that CI builds and tests (e2e/build-colo.sh), on
# distroless "static" (no shell, no libc, CA certificates, user 65532), as the chart runs it.
#
#   docker build -t registry.example.gov.uk/colo:0.1.0 .
#   docker run --rm registry.example.gov.uk/colo:0.1.0 --help
#
# The build stage's Rust is the version the repository is tested with (rust-toolchain.toml
# is not used: pin here when it changes).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cp "$(e2e/build-colo.sh)" /colo && /colo --version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /colo /colo
USER 65532:65532
# 8080: the report (bearer tokens); 8081: /metrics, /healthz, /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["/colo"]
CMD ["operator"]
