# syntax=docker/dockerfile:1
FROM alpine
RUN apk add --no-cache openssh-client git
RUN --mount=type=secret,id=aws,target=/root/.aws/credentials \
    aws s3 cp s3://bucket/file /file
RUN --mount=type=ssh \
    mkdir -p -m 0700 ~/.ssh && ssh-keyscan github.com >> ~/.ssh/known_hosts && \
    git clone git@github.com:example/private.git
RUN --network=none --mount=type=tmpfs,target=/tmp ls /tmp
