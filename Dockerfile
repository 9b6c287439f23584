# syntax=docker/dockerfile:1
# The infergate image: one static binary, nothing else. Used by the load Job of
# `infergate validate --kube` and by deploy/job.yaml (the gate run in-cluster).
#
#   docker build -t <registry>/infergate:<version> .
#
# Builder: Alpine's Rust toolchain targets musl, which links statically by default; musl's own DNS
# resolver works without NSS files, which a static glibc binary would lack (the load Job resolves
# `*.svc` names).
FROM rust:1.95-alpine AS builder
RUN apk add --no-cache musl-dev gcc
WORKDIR /src
COPY . .
RUN cargo build --release -p infergate --bin infergate \
 && install -D -m 0755 target/release/infergate /out/usr/local/bin/infergate \
 && if ldd /out/usr/local/bin/infergate 2>&1 | grep -q '=>'; then echo "infergate is not static" >&2; exit 1; fi

# Runtime: distroless static (CA certificates, /etc/passwd with uid 65532, no shell, no package
# manager). The Job manifests use exec argv only.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/usr/local/bin/infergate /usr/local/bin/infergate
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/infergate"]
