# syntax=docker/dockerfile:1.7-labs
FROM alpine AS src
WORKDIR /src
COPY --parents ./pkg/**/go.mod /deps/
COPY --exclude=*.test --exclude=**/testdata . .

FROM scratch
COPY --link --from=src /src /src
COPY --link --chmod=0644 config.yaml /etc/app/
ADD --link https://example.com/ca.pem /etc/ssl/certs/
ADD --keep-git-dir=true https://github.com/example/repo.git#main /repo
