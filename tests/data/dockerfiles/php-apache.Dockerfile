FROM php:8.3-apache
RUN apt-get update && apt-get install -y \
        libfreetype-dev \
        libjpeg62-turbo-dev \
        libpng-dev \
    && docker-php-ext-configure gd --with-freetype --with-jpeg \
    && docker-php-ext-install -j$(nproc) gd \
    && rm -rf /var/lib/apt/lists/*
RUN a2enmod rewrite
COPY --chown=www-data:www-data . /var/www/html/
VOLUME ["/var/www/html/uploads"]
