# syntax=docker/dockerfile:1
FROM alpine
COPY <<robots.txt <<humans.txt /usr/share/html/
User-agent: *
Disallow: /
robots.txt
Written by people.
humans.txt
RUN --mount=type=cache,target=/var/cache/apk <<EOF
apk add --no-cache curl
curl --version
EOF
ENTRYPOINT ["sh"]
