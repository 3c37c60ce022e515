# PostgreSQL 15 with the HyperLogLog extension pinwatch's rollups use (distinct devices).
FROM postgres:15
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15-hll \
    && rm -rf /var/lib/apt/lists/*
