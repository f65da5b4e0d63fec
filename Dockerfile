# The diffsearch UI/CLI image (used by docker-compose.yml). CPU torch by default; for a GPU build
# pass --build-arg TORCH_INDEX=<the PyTorch CUDA wheel index matching your driver>.
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DO_NOT_TRACK=1 \
    UNSTRUCTURED_DISABLE_NOTICE=1 GRADIO_ANALYTICS_ENABLED=False TOKENIZERS_PARALLELISM=false
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY encoders encoders
COPY ingest ingest
COPY search search
COPY train train
COPY ui ui
RUN pip install --extra-index-url "$TORCH_INDEX" -c constraints.txt . && diffsearch --help >/dev/null
EXPOSE 7860
CMD ["diffsearch", "ui", "--host", "0.0.0.0", "--port", "7860"]
