FROM alpine
# edited on Windows
RUN echo one \
    && echo two
ENV A=1 \
    B=2
CMD ["sh", "-c", "echo $A"]
