# syntax=docker/dockerfile:1
# Builds the jobboard binary and ships it alone, on an empty base: nothing
# in the image but the binary, the CA certificates it needs to verify an
# SMTP server's TLS certificate, and the time zone database. Both stages are
# pinned: the Go image to an exact version, and scratch has none to pin.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags "-s -w -X main.version=${VERSION}" -o /out/jobboard ./cmd/jobboard

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/jobboard /jobboard
EXPOSE 8080 9090
# An unprivileged user that exists nowhere else (distroless's "nonroot").
USER 65532:65532
ENTRYPOINT ["/jobboard"]
CMD ["serve"]
