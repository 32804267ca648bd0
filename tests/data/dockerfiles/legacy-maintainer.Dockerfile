FROM ubuntu:14.04
MAINTAINER Some Person <someone@example.com>
RUN apt-get update && apt-get install -y \
    apache2 \
 && rm -rf /var/lib/apt/lists/*
ADD site.tar.gz /var/www/
ENV APACHE_RUN_USER www-data
ENV APACHE_RUN_GROUP www-data
EXPOSE 80 443
CMD /usr/sbin/apache2ctl -D FOREGROUND
