FROM gcc:13 AS build
WORKDIR /src
COPY Makefile *.c *.h ./
RUN make CFLAGS="-O2 -static" && strip hello

FROM busybox:musl
COPY --from=build /src/hello /usr/local/bin/hello
ENTRYPOINT ["/usr/local/bin/hello"]
CMD ["--help"]
