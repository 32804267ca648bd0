FROM alpine
CMD ["echo", 'not json']
ENTRYPOINT [ "/bin/sh", "-c" ]
RUN [ "/bin/echo", "hello \"world\"" ]
RUN ["sh", "-c", "echo tab\there"]
VOLUME ["/var/lib/app", "/var/log/app"]
