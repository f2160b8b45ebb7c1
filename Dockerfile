# The archivist's image (jobs/tapit-archivist.nomad.hcl runs it). Not built by the tests: there is
# no registry to push it to here.
#
#   docker build -t registry.example.com/tapit:0.1.0 . && docker push registry.example.com/tapit:0.1.0
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 tapit
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tapit ./tapit
RUN pip install --no-cache-dir . && rm -rf /src

USER tapit
WORKDIR /home/tapit
ENV TAPIT_HOME=/home/tapit/.tapit
ENTRYPOINT ["tapit"]
CMD ["archivist"]
