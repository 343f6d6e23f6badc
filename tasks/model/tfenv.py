"""TensorFlow set-up inside a Ray worker: thread pools sized to the task's CPUs, GPUs only
for tasks that were given one (with memory growth, so several bundles can share a GPU)."""

from __future__ import annotations

import os

_configured: tuple[int, bool] | None = None


def assigned_resources() -> tuple[int, bool]:
    """(CPUs, has GPU) assigned to the current Ray task; (os cpu count, False) outside Ray."""
    try:
        import ray

        if ray.is_initialized():
            res = ray.get_runtime_context().get_assigned_resources()
            return max(1, round(res.get("CPU", 1))), bool(ray.get_gpu_ids())
    except Exception:
        pass
    return os.cpu_count() or 1, False


def configure_tensorflow(cpus: int | None = None, use_gpu: bool | None = None):
    """Import TF configured for this task; first call in a process wins (TF cannot resize later)."""
    global _configured
    if cpus is None or use_gpu is None:
        auto_cpus, auto_gpu = assigned_resources()
        cpus = auto_cpus if cpus is None else cpus
        use_gpu = auto_gpu if use_gpu is None else use_gpu
    if _configured is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if not use_gpu:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU-only tasks never grab a GPU
    import tensorflow as tf

    if _configured is None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(cpus)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, cpus))
            gpus = tf.config.list_physical_devices("GPU")
            if not use_gpu and gpus:
                tf.config.set_visible_devices([], "GPU")
            for gpu in gpus if use_gpu else []:
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # TF already initialised in this process (e.g. tests): keep its settings
        _configured = (cpus, use_gpu)
    return tf
