# pushguard: a static binary on distroless, running as an unprivileged user.
#   docker build -t pushguard/pushguard:0.1.0 .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/pushguard ./cmd/pushguard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pushguard /bin/pushguard
# 65532 is distroless' "nonroot"; the Helm chart and Kustomize base run as it too.
USER 65532:65532
# HTTP (push, offenders, /metrics, /ready) and gRPC, Mimir's ports.
EXPOSE 8080 9095
ENTRYPOINT ["/bin/pushguard"]
