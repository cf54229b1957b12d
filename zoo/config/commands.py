"""Typed options of the `key=value` commands (`export`, `predict`, `serve`, `generate`, `launch`,
`compare`): OmegaConf structured configs like the training schemas, with each field's range
(`bounded`) and choices (`choice`) declared once, on the field.

`zoo.cli.options.parse_options` reads a command line into one of these and checks it with
`zoo.config.validate.check_node`, the checker of the training config; `zoo COMMAND --help` lists
the fields with their trailing comments, ranges and choices. No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from zoo.config.bounds import bounded, choice
from zoo.config.schema import CHECKPOINTS

EXPORT_FORMATS = ("onnx", "savedmodel", "tflite", "keras")
# which format offers which: zoo.export.convert
QUANTIZATIONS = ("none", "float16", "dynamic", "int8", "int4")
SAMPLERS = ("greedy", "top_k", "top_p", "random")
CLUSTERS = ("local", "slurm", "kubernetes")


@dataclass
class ExportOptions:
    """`zoo export` (and the defaults of `zoo.export`)."""

    run_dir: str = MISSING  # a finished zoo train run folder (required)
    format: str = choice("onnx", EXPORT_FORMATS)
    output: str = ""  # bundle folder (default <run_dir>/export/<format>[_<quantize>], a sub-folder per part)
    opset: int = bounded(17, ge=9, le=21)  # ONNX opset (what tf2onnx 1.17 writes and onnxruntime 1.20 runs)
    quantize: str = choice("none", QUANTIZATIONS)  # onnx int8/int4, tflite float16/dynamic/int8, keras int8
    tolerance: float = bounded(1e-4, gt=0)  # largest |keras - exported| allowed on held-out inputs
    max_metric_drop: float = bounded(0.05, ge=0, le=1)  # largest metric drop of a quantized bundle
    checkpoint: str = choice("final", CHECKPOINTS)
    name: str = ""  # the bundle's model name (default <model>_<dataset>[_<part>], e.g. cnn_digits)
    part: str = "all"  # all, or one part of a multi-part family (a VAE's encoder or decoder)


@dataclass
class PredictOptions:
    """`zoo predict`."""

    bundle: str = MISSING  # an exported bundle folder (required)
    input: str = MISSING  # a CSV/JSON/image/text file, a folder of them, or N samples for a generative bundle
    output: str = MISSING  # where predictions go: .csv, .json, .npy (or a folder of PNGs for samples)
    seed: int = bounded(0, ge=0)  # random seed of a generative bundle's samples
    trust: bool = False  # load a bundle whose graph may touch the host (files, Python); see docs/deploy.md


@dataclass
class ServeOptions:
    """Bounds on every request and how the models are batched; defaults suit a small CPU pod."""

    max_request_bytes: int = bounded(1 << 20, ge=1)  # body size (after decompression), else 413
    max_instances: int = bounded(1024, ge=1)  # examples in one request, else 413
    header_timeout_s: float = bounded(5.0, gt=0)  # to send the request line and headers, else 408 and closed
    body_timeout_s: float = bounded(10.0, gt=0)  # to send the body once headers are in, else 408 and closed
    request_timeout_s: float = bounded(10.0, gt=0)  # queued plus model time, else 504
    keep_alive_s: int = bounded(5, ge=0)  # idle keep-alive connections are closed after this
    max_batch: int = bounded(64, ge=1)  # rows in one model call; 1 turns batching off
    batch_window_ms: float = bounded(0.0, ge=0)  # a batch waits this long to fill (0: what queued meanwhile)
    max_queue: int = bounded(256, ge=1)  # requests waiting per model version, else 429 with Retry-After
    model_threads: int = bounded(2, ge=1)  # model calls in flight at once (onnxruntime releases the GIL)
    inline_ms: float = bounded(1.0, ge=0)  # faster models run on the event loop, not a thread
    onnx_threads: int = bounded(1, ge=0)  # onnxruntime intra-op threads per call (0 = one per core)
    onnx_spinning: bool = False  # let onnxruntime's idle threads spin (steals CPU from the event loop)
    drain_timeout_s: float = bounded(20.0, ge=0)  # graceful shutdown: time for in-flight requests
    poll_s: float = bounded(2.0, ge=0)  # how often a repository is scanned for new versions (0 = never)
    drift_window: int = bounded(10_000, ge=1)  # live examples the drift statistics cover (about)
    access_log: bool = True  # one JSON line per request on stdout
    trust: bool = False  # load bundles whose graphs may touch the host (docs/deploy.md)
    max_decode_batch: int = bounded(16, ge=1)  # completions decoded together per model (continuous batching)
    max_decode_waiting: int = bounded(64, ge=1)  # completions waiting for a row, else 429 with Retry-After
    generation_timeout_s: float = bounded(300.0, gt=0)  # a completion ends there (finish_reason length)


@dataclass
class ServeCommand(ServeOptions):
    """`zoo serve`: what to serve and where, then the server's limits (`ServeOptions`)."""

    bundle: str = ""  # comma-separated bundle folders
    repository: str = ""  # a folder of NAME/1/, NAME/2/, ... versions (watched for new ones)
    port: int = bounded(8501, ge=0, le=65535)  # TCP port (0: any free one)
    host: str = "127.0.0.1"  # address to listen on


@dataclass
class GenerateOptions:
    """`zoo generate`; the sampling fields are `zoo.runtime.generation_options.GenerationOptions`'s."""

    run_dir: str = ""  # a language-model run folder (TensorFlow + keras-hub samplers)
    bundle: str = ""  # an exported GPT bundle (onnxruntime, no TensorFlow)
    prompt: str = ""  # one prompt
    input: str = ""  # a .txt file (one prompt a line) or .jsonl ({"prompt": ...} a line)
    output: str = ""  # write .jsonl, .json or .txt instead of printing
    checkpoint: str = choice("final", CHECKPOINTS)  # run_dir only
    max_new_tokens: int = bounded(32, ge=1)  # tokens to add to each prompt
    sampler: str = choice("greedy", SAMPLERS)
    temperature: float = bounded(1.0, gt=0)  # divides the logits before sampling (sampler=greedy: argmax)
    top_k: int = bounded(50, ge=1)  # sampler=top_k: keep the k likeliest tokens
    top_p: float = bounded(0.9, gt=0, le=1)  # sampler=top_p: the smallest set with this total probability
    seed: int = bounded(0, ge=0)  # random seed of the sampler
    stop: str = ""  # stop at this string (or a JSON list of strings)


@dataclass
class LaunchOptions:
    """`zoo launch`'s own options; every other argument goes to `zoo train`."""

    cluster: str = choice("local", CLUSTERS)
    workers: int = bounded(2, ge=1)  # local: number of worker processes
    timeout: float = bounded(3600.0, gt=0)  # local: seconds before every worker is stopped
    nodes: int = bounded(2, ge=1)  # slurm/kubernetes: number of nodes (pods), one worker each by default
    tasks_per_node: int = bounded(1, ge=1)  # slurm: workers per node
    retries: int = bounded(2, ge=0)  # slurm/kubernetes: reruns after a lost worker (each resumes)
    dry_run: bool = False  # slurm: print the sbatch script instead of submitting it
    name: str = "zoo"  # slurm job name; kubernetes Job and Service name
    output: str = ""  # kubernetes: write the manifest to this file (default: print it)
    image: str = "keras-zoo:latest"  # kubernetes: the container image with keras-zoo installed
    claim: str = "zoo-runs"  # kubernetes: ReadWriteMany PersistentVolumeClaim for the run folders
    cpu: str = "2"  # kubernetes: CPU request and limit per worker
    memory: str = "4Gi"  # kubernetes: memory request and limit per worker
    gpus: int = bounded(0, ge=0)  # kubernetes: nvidia.com/gpu per worker


@dataclass
class CompareOptions:
    """`zoo compare`'s options (the run folders are the arguments without `=`)."""

    output: str = ""  # the plot (default compare.png in the one folder given, else here)


COMMAND_OPTIONS: dict[str, type] = {"export": ExportOptions, "predict": PredictOptions, "serve": ServeCommand,
                                    "generate": GenerateOptions, "launch": LaunchOptions,
                                    "compare": CompareOptions}
