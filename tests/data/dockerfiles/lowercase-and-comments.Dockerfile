# A Dockerfile written in lower case, with comments everywhere.
from alpine:3.20 as base
# comment between instructions

run apk add --no-cache \
    # comment in a continuation
    bash \
    \
    coreutils
    # indented comment
workdir /work
copy . .
cmd ["bash"]
