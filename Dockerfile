# syntax=docker/dockerfile:1
# Builds the jobboard binary and ships it alone on a distroless base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/jobboard ./cmd/jobboard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jobboard /jobboard
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/jobboard"]
CMD ["serve"]
