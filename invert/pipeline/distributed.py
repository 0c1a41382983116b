"""Many processes on one run: torchrun's ranks, each on its own device, sharing the inputs.

`torchrun --nproc-per-node N -m invert project ...` (and multi-node torchrun) starts N processes with RANK,
LOCAL_RANK and WORLD_SIZE set. Each rank:
- computes on its own device: the GPU of its LOCAL_RANK (`cuda:<LOCAL_RANK>`), or the CPU;
- takes a deterministic, disjoint, balanced share of the work: item i of a list every rank builds the same
  way goes to rank i mod WORLD_SIZE (shares differ by at most one item; together they are the list);
- talks to the others through torch.distributed (NCCL between GPUs, gloo on CPUs) only for the little
  coordination a run needs: one value broadcast from rank 0, a few lists gathered, and a wait for all at
  the end that polls (so that a stop signal still reaches a rank that is waiting).

Without torchrun (no WORLD_SIZE, or 1) everything here is a no-op on one process.
"""
import datetime
import logging
import os
import time
from dataclasses import dataclass

import torch

from invert.errors import InvertError

log = logging.getLogger(__name__)

# How long a collective may wait for the slowest rank. A rank that finished its share waits at the end for
# the others: their last batches, a few minutes at most with balanced shares, can take longer with
# thousands of optimisation steps per image.
TIMEOUT = datetime.timedelta(hours=6)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in a run: rank, world size and local rank (0, 1, 0 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0


def from_environment(environ=None):
    """The Ranks that torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) describe."""
    environ = os.environ if environ is None else environ

    def number(name, default):
        value = environ.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise InvertError(f"the environment variable {name}={value!r} is not a whole number") from None

    world = number("WORLD_SIZE", 1)
    ranks = Ranks(rank=number("RANK", 0), world_size=world, local_rank=number("LOCAL_RANK", 0),
                  local_world_size=number("LOCAL_WORLD_SIZE", world))
    if ranks.world_size < 1 or not 0 <= ranks.rank < ranks.world_size:
        raise InvertError(f"RANK {ranks.rank} does not fit WORLD_SIZE {ranks.world_size}")
    return ranks


def device_for(ranks, device):
    """The device of this rank: `device` as asked, with a CUDA device's index set to LOCAL_RANK.

    With several ranks on a node an explicit index (cuda:3) would put them all on one GPU: refused."""
    device = torch.device(device)
    if device.type != "cuda" or not ranks.distributed:
        return device
    if device.index is not None and ranks.local_world_size > 1:
        raise InvertError(f"device {device} would put all {ranks.local_world_size} ranks of this node on one GPU; "
                          "each rank uses the GPU of its LOCAL_RANK: ask for 'cuda' (or 'auto')")
    index = ranks.local_rank if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise InvertError(f"LOCAL_RANK {ranks.local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                          "start at most that many processes per node")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


class Coordinator:
    """The collective operations of a run (see the module doc); on one process they return at once."""

    def __init__(self, ranks, device):
        self.ranks = ranks
        self.started = False
        if ranks.distributed:
            import torch.distributed as dist

            device = torch.device(device)
            backend = "nccl" if device.type == "cuda" else "gloo"
            if not dist.is_initialized():
                options = {"device_id": device} if device.type == "cuda" else {}  # NCCL: this rank's GPU
                dist.init_process_group(backend, timeout=TIMEOUT, **options)
                self.started = True
            log.debug("rank %d of %d on %s (%s)", ranks.rank, ranks.world_size, device, backend)

    def broadcast(self, value):
        """Rank 0's `value`, on every rank."""
        if not self.ranks.distributed:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value):
        """[value of rank 0, value of rank 1, ...] on every rank."""
        if not self.ranks.distributed:
            return [value]
        import torch.distributed as dist

        values = [None] * self.ranks.world_size
        dist.all_gather_object(values, value)
        return values

    def wait_for_all(self, poll_seconds=0.2):
        """Return when every rank has called this; polls, so a stop signal still interrupts the wait."""
        if not self.ranks.distributed:
            return
        import torch.distributed as dist

        work = dist.barrier(async_op=True)
        while not work.is_completed():
            time.sleep(poll_seconds)
        work.wait()

    def close(self):
        if self.started:
            import torch.distributed as dist

            try:
                dist.destroy_process_group()
            except Exception as exc:  # noqa: BLE001 - leaving anyway
                log.debug("destroying the process group: %s", exc)
            self.started = False


def shard(items, ranks):
    """This rank's share of `items` (a list): every WORLD_SIZE-th item from its RANK on."""
    return items[ranks.rank::ranks.world_size]


def check_same_inputs(inputs, coordinator):
    """Every rank enumerates the inputs (InputFiles) on its own: they must have found the same list in the
    same order, since the shares are positions in it. Not so while photos are still being copied in, for
    example: then an InvertError on every rank, before any work."""
    import hashlib

    listed = "\n".join(f"{item.path}\t{item.subfolder}" for item in inputs)
    digest = hashlib.sha256(listed.encode("utf-8", "surrogateescape")).hexdigest()
    found = coordinator.gather((len(inputs), digest))
    if len(set(found)) > 1:
        counts = ", ".join(f"rank {rank}: {count}" for rank, (count, _) in enumerate(found))
        raise InvertError(f"the processes of this run found different inputs ({counts} photos, or as many but not "
                          "the same files); are photos still being added or copied? Start the run once its input "
                          "folders are complete")
