# syntax=docker/dockerfile:1
# postdesk in a container: a static binary on a minimal, non-root base.
#   docker build -t postdesk --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run -v /etc/postdesk:/etc/postdesk:ro -e DATABASE_URL -e POSTDESK_SECRET -p 8080:8080 postdesk
# The config is read from /etc/postdesk/postdesk.yaml (mount it, with its
# secrets as env: or file: values); `listen` must be 0.0.0.0:8080 to be
# reachable from outside the container.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG REVISION=""
ARG BUILD_TIME=""
# .git is not in the build context (.dockerignore), so the revision comes as
# a build argument rather than from the toolchain's VCS stamp.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X postdesk/buildinfo.revision=${REVISION} -X postdesk/buildinfo.buildTime=${BUILD_TIME}" \
      -o /out/postdesk ./cmd/postdesk

# distroless/static: CA certificates and tzdata, no shell, user nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/postdesk /usr/local/bin/postdesk
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/postdesk", "serve"]
CMD ["--config", "/etc/postdesk/postdesk.yaml"]
