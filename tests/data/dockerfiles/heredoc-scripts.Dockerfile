# syntax=docker/dockerfile:1
FROM ubuntu:24.04
RUN <<EOT bash
  set -ex
  apt-get update
  apt-get install -y vim
EOT
RUN <<EOF
#!/usr/bin/env python3
print("hello from python")
EOF
COPY <<EOF /usr/share/nginx/html/index.html
<html><body>$HOSTNAME</body></html>
EOF
COPY <<-'EOT' /etc/motd
	Quoted delimiter: $NOT_EXPANDED
	EOT
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
I am
first
FILE1
I am
second
FILE2
