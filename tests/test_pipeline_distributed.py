"""invert.pipeline.distributed: torchrun's variables, shares of the work, devices per rank."""
from pathlib import Path

import pytest
import torch

from invert.errors import InvertError
from invert.pipeline.distributed import Coordinator, Ranks, check_same_inputs, device_for, from_environment, shard
from invert.pipeline.inputs import InputFile


def test_without_torchrun_there_is_one_process():
    ranks = from_environment({})
    assert ranks == Ranks(0, 1, 0, 1) and not ranks.distributed and ranks.is_main
    coordinator = Coordinator(ranks, "cpu")
    assert coordinator.broadcast("x") == "x" and coordinator.gather(5) == [5]
    coordinator.wait_for_all()
    coordinator.close()


def test_torchrun_variables():
    ranks = from_environment({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"})
    assert ranks == Ranks(rank=5, world_size=8, local_rank=1, local_world_size=4) and ranks.distributed
    assert not ranks.is_main
    with pytest.raises(InvertError, match="RANK 8 does not fit WORLD_SIZE 8"):
        from_environment({"RANK": "8", "WORLD_SIZE": "8"})
    with pytest.raises(InvertError, match="WORLD_SIZE='two' is not a whole number"):
        from_environment({"WORLD_SIZE": "two"})


@pytest.mark.parametrize("count, world", [(12, 2), (13, 4), (3, 8), (0, 3), (1000, 7)])
def test_shares_are_disjoint_balanced_and_complete(count, world):
    items = list(range(count))
    shares = [shard(items, Ranks(rank, world)) for rank in range(world)]
    assert sorted(i for share in shares for i in share) == items  # every item exactly once
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert shares == [shard(items, Ranks(rank, world)) for rank in range(world)]  # the same on every call


def test_each_rank_uses_its_own_device():
    assert device_for(Ranks(1, 2, 1, 2), torch.device("cpu")) == torch.device("cpu")
    assert device_for(Ranks(), torch.device("cpu")) == torch.device("cpu")
    if not torch.cuda.is_available():
        pytest.skip("no GPU here: the CUDA index is set from LOCAL_RANK on GPU machines")
    assert device_for(Ranks(0, 2, 0, 2), torch.device("cuda")) == torch.device("cuda", 0)
    with pytest.raises(InvertError, match="on one GPU"):
        device_for(Ranks(0, 2, 0, 2), torch.device("cuda", 0))


class _TwoRanks:
    """A coordinator whose other rank found `other` (a list of InputFiles)."""

    def __init__(self, other):
        self.other = other

    def gather(self, value):
        import hashlib

        listed = "\n".join(f"{item.path}\t{item.subfolder}" for item in self.other)
        return [value, (len(self.other), hashlib.sha256(listed.encode()).hexdigest())]


def test_the_ranks_must_have_found_the_same_inputs():
    found = [InputFile(Path(f"photos/{name}.jpg")) for name in "abc"]
    check_same_inputs(found, _TwoRanks(list(found)))  # the same: fine
    with pytest.raises(InvertError, match=r"found different inputs \(rank 0: 3, rank 1: 2 photos"):
        check_same_inputs(found, _TwoRanks(found[:2]))  # one still being copied
    with pytest.raises(InvertError, match=r"rank 0: 3, rank 1: 3 photos, or as many but not the same files"):
        check_same_inputs(found, _TwoRanks([found[0], found[2], found[1]]))  # another order
