# The Python side on Kubernetes (deploy/k8s): the worker pool beside each TaskManager and the Job that
# submits the pipeline run this image, so the workers run the very code that built the pipeline. Beam's
# Python SDK image, with the project installed. Build from the project root:
#   docker build -f deploy/docker/python.Dockerfile -t spectator-python:0.1.0-beam2.70.0 .
ARG BEAM_VERSION=2.70.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}
ARG BEAM_VERSION
WORKDIR /opt/spectator
COPY setup.py ./
COPY spectator ./spectator
RUN pip install --no-cache-dir . \
    && python -c "import apache_beam, spectator.flink.worker_pool; assert apache_beam.__version__ == '${BEAM_VERSION}'"
