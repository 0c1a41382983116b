"""Large CPU tensors on transparent huge pages: one page fault per 2 MiB instead of per 4 KiB.

A projection step allocates and frees gigabytes of activations. glibc hands blocks this large straight
back to the kernel, so every step faults them in again, page by page: at 256² that is ~0.5-3 million
faults per step, a fifth of the step's time on two cores. PyTorch's CPU allocator can align large blocks
to 2 MiB and ask for huge pages (`THP_MEM_ALLOC_ENABLE=1`) where the kernel offers them on request
(`/sys/kernel/mm/transparent_hugepage/enabled` = madvise or always). PyTorch reads the variable once,
at its first allocation, so it must be set before torch allocates a tensor: in the environment
(`THP_MEM_ALLOC_ENABLE=1 stylegan-invert project ...`), or by calling `request_cpu_huge_pages()` before
creating tensors. Results are unchanged; only where the memory comes from differs.

It is off by default, in the command line too: measured on a 2-core CPU it made projection x1.3-1.4
faster at 128² (batch 1 and 4) and 256² (batch 4), but slower at 64² (x0.87 of the batched path) and at
256² batch 1 (x0.95); see bench/README.md.
"""
import os

ENV_VAR = "THP_MEM_ALLOC_ENABLE"


def request_cpu_huge_pages():
    """Ask PyTorch for huge pages unless the user decided (`THP_MEM_ALLOC_ENABLE=0` turns it off).

    Returns True when the variable is now on. It has no effect if torch has already allocated a tensor
    in this process, and none on kernels without transparent huge pages.
    """
    return os.environ.setdefault(ENV_VAR, "1").strip() == "1"  # PyTorch takes "1" as on, "0" as off
