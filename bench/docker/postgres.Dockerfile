# A stand-in for the public postgres image, for machines that cannot pull it (bench/docker_drill.py builds it when
# postgres:16 is not present). Same interface as far as compose.yaml uses it: POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, data in /var/lib/postgresql/data, pg_isready (the binaries themselves, not Debian's cluster wrappers).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && pg_dropcluster --stop 15 main \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql \
    && for tool in initdb postgres pg_isready psql; do ln -s /usr/lib/postgresql/*/bin/$tool /usr/local/bin/; done
COPY postgres-entrypoint.sh /usr/local/bin/
ENV PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
CMD ["postgres-entrypoint.sh"]
