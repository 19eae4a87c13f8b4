"""Sweeps at scale: simulate many rules in chunks over all local devices, or over Dask workers on many
machines (:mod:`jaxsnn.sweep.cluster`, imported on use), resumably, into a Parquet store; load it as a
DataFrame or arrays; convert to and from the original release's format."""

from .release import from_release, load_release, release_dtype, release_metric_names, save_release, to_release
from .runner import (
    ChunkResult,
    Progress,
    SweepSimulator,
    chunk_size_for_budget,
    default_memory_budget,
    device_slices,
    fsbi_bytes_per_rule,
    fsbi_simulator,
    run_chunk,
    run_sweep,
    simulate_into_store,
)
from .store import STATUSES, STORE_FORMAT_VERSION, filter_plausible, load, load_arrays, read_manifest

__all__ = [
    "from_release", "load_release", "release_dtype", "release_metric_names", "save_release", "to_release",
    "ChunkResult", "Progress", "SweepSimulator", "chunk_size_for_budget", "default_memory_budget", "device_slices",
    "fsbi_bytes_per_rule", "fsbi_simulator", "run_chunk", "run_sweep", "simulate_into_store",
    "STATUSES", "STORE_FORMAT_VERSION", "filter_plausible", "load", "load_arrays", "read_manifest",
]
