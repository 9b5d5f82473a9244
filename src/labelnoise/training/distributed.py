"""Data-parallel training with PyTorch ``DistributedDataParallel`` (DDP).

Source: Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel
Training" (VLDB): every process holds a replica of each network, computes gradients on its
share of the batch, and DDP all-reduces (averages) them in buckets during the backward pass,
so that every replica takes the same optimizer step.

``labelnoise train --nproc N`` (or N processes started by ``torchrun``) trains the methods
whose registry entry says ``distributed=True`` (``standard`` with any loss, ``elr``,
``coteaching``, ``dividemix``) this way; the single-process path is untouched (every branch
below is taken only when the world size is above 1). The design, chosen so that P processes
step like one process with the same global batch:

* **Sharding.** Every rank seeds the same data generator, so every rank draws the same
  global permutation, the same global batches and the same augmentation parameters (and
  mixup coefficients and permutations). Each rank then takes a contiguous share of every
  global batch (:meth:`World.part`: sizes differ by at most one). ``batch_size`` is the
  *global* batch. A last batch smaller than P is dropped (one process drops a last batch of
  one example; with P = 2 the two rules agree).
* **Gradients.** Each rank weights its mean loss by ``P * n_local / n_global``
  (:meth:`World.weight`); DDP averages the gradients over the P ranks, which gives the
  gradient of the global batch's mean loss. Terms of the loss that are not per-example
  means (DivideMix's prior regulariser on the batch's mean prediction) are computed from
  global sums all-reduced with autograd (:meth:`World.batch_mean`).
* **BatchNorm.** Global statistics: in training mode every BatchNorm layer is replaced by
  :class:`GlobalBatchNorm`, which normalises with the mean and variance of the *global*
  batch (sums all-reduced with autograd; the running statistics are updated from them, so
  they are the same on every rank). This is what ``torch.nn.SyncBatchNorm`` does on GPUs;
  SyncBatchNorm refuses CPU tensors, so ours is used on every device. Eval mode is plain
  BatchNorm. The layers are put back to the original classes when training ends, so the
  returned networks and their ``state_dict`` are those of a single-process run.
* **Per-example state** is computed on the full data, gathered across ranks
  (``all_gather``) so that every rank holds the same copy and makes the same decisions:
  DivideMix's per-example losses before the GMM split (every rank gets all N losses and
  fits the same mixture), Co-teaching's per-example losses of each global batch before the
  small-loss selection, ELR's targets (the rows each rank updated, at the end of every
  epoch), the evaluation logits (test accuracy, memorisation diagnostic).
* **Checkpoints** are written by rank 0 only (the engine's atomic :class:`Checkpointer`);
  every rank holds the same state, so on resume every rank reads that same checkpoint (with
  its manifest checks and ``torch.load(weights_only=True)``; with several machines the
  folder must be on a file system they all see). Progress bars and ``on_epoch`` callbacks
  run on rank 0 only.
* **Memory.** Each process holds the whole training set (on its device), as one process
  does; only the batches are split.
* **Launch.** :func:`launch` spawns N local processes (``torch.multiprocessing``, start
  method "spawn") that join a process group through torchrun's environment variables
  (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` with a free
  port): :func:`init_from_env` is the one way in, for ``--nproc`` and for ``torchrun``.
  Backend: ``nccl`` on CUDA devices (one GPU per process), ``gloo`` on CPU. A failure in any
  rank ends every rank; :func:`launch` re-raises the first real error (not the collateral
  "connection closed" errors of the other ranks) as one exception of its own type.

Inside an initialized process group of more than one process, :func:`labelnoise.training.
engine.run` (so every method's ``fit``) trains distributed: call it on every rank, or wrap
single-process work in :func:`local`.

How close to one process: the sums (gradients, BatchNorm statistics, gathered losses) are
taken in another order, so the results agree up to float rounding, amplified by the
training's own sensitivity: after one or two epochs on tiny data the weights agree within
6e-7 (``tests/test_ddp.py``: CE, ELR, Co-teaching and DivideMix; 2.5e-6 for DivideMix on
images), after many steps as closely as one process agrees with itself when its initial
weights are perturbed by 1e-7 (``benchmarks/results/ddp.md``). Discontinuous decisions (Co-teaching's small-loss
selection, Adam on near-zero gradients, DivideMix's GMM threshold) can turn a rounding-sized
difference into a different step, as they do for such a perturbation.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from labelnoise._validation import one_line

try:
    import torch.distributed as dist

    AVAILABLE = dist.is_available()
except ImportError:  # pragma: no cover - builds without torch.distributed
    dist = None
    AVAILABLE = False

#: seconds the other ranks get to stop on their own after one failed, before SIGTERM
GRACE_SECONDS = 5.0
_LOCAL_DEPTH = [0]


# ------------------------------------------------------------------------------ the world
@dataclass(frozen=True)
class World:
    """The processes of a run: this process's ``rank`` among ``size``, its ``local_rank``
    on its machine and the ``device`` collectives run on (CPU for gloo, this process's GPU
    for nccl). ``size == 1`` (:data:`SINGLE`) is the single-process run, for which every
    method below is the identity (or a no-op) and no collective is called."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        """True when training is distributed (more than one process)."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that writes files and shows progress."""
        return self.rank == 0

    # ---- sharding
    def sizes(self, n: int) -> list[int]:
        """The share of each rank of ``n`` rows (contiguous, sizes differ by at most 1, the
        first ranks taking the extra rows, as ``torch.tensor_split``)."""
        base, extra = divmod(int(n), self.size)
        return [base + (r < extra) for r in range(self.size)]

    def bounds(self, n: int) -> tuple[int, int]:
        """(start, stop) of this rank's share of ``n`` rows."""
        sizes = self.sizes(n)
        start = sum(sizes[:self.rank])
        return start, start + sizes[self.rank]

    def part(self, n: int) -> slice:
        """This rank's share of ``n`` rows as a slice (``slice(None)``: everything, when
        single-process)."""
        if not self.active:
            return slice(None)
        return slice(*self.bounds(n))

    def rows(self, blocks, device=None) -> torch.Tensor | None:
        """Row indices of this rank's share of each of consecutive blocks of rows of the
        sizes ``blocks`` (e.g. [b, b, m, m]: the share of each block, offset by the blocks
        before it); None when single-process."""
        if not self.active:
            return None
        out, offset = [], 0
        for n in blocks:
            start, stop = self.bounds(n)
            out.append(torch.arange(offset + start, offset + stop, device=device))
            offset += n
        return torch.cat(out)

    # ---- losses
    def weight(self, loss: torch.Tensor, n_local: int, n_global: int) -> torch.Tensor:
        """``loss`` (a mean over this rank's ``n_local`` rows) times ``P * n_local /
        n_global``, so that DDP's average of the gradients over the P ranks is the gradient
        of the mean over the ``n_global`` rows; ``loss`` itself when single-process."""
        if not self.active:
            return loss
        return loss * (self.size * n_local / n_global)

    def mean(self, t: torch.Tensor, count: int) -> torch.Tensor:
        """The mean of the global tensor of which this rank holds the part ``t`` (``count``
        elements in all), weighted for DDP: ``t.mean()`` when single-process, else
        ``t.sum() * P / count``, so that DDP's average of the gradients over the P ranks is
        the gradient of the global mean (also right when ``t`` is empty)."""
        if not self.active:
            return t.mean()
        return t.sum() * (self.size / count)

    def batch_mean(self, t: torch.Tensor, n_global: int) -> torch.Tensor:
        """The mean over the rows of the global batch of ``t`` (this rank's rows, (n, ...)),
        differentiable: ``t.mean(0)`` when single-process, else the all-reduced sum (with
        autograd, see :func:`all_reduce_sum`) over ``n_global``."""
        if not self.active:
            return t.mean(0)
        return all_reduce_sum(t.sum(0)) / n_global

    # ---- collectives (no-ops when single-process)
    def _to(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device) if t.device != self.device else t

    def gather(self, t: torch.Tensor, n: int) -> torch.Tensor:
        """The rows of every rank's share of ``n`` rows, in order: this rank holds ``t`` with
        ``sizes(n)[rank]`` rows (any trailing shape, no gradient); returns (n, ...) on
        ``t``'s device, the same on every rank."""
        if not self.active:
            return t
        sizes = self.sizes(n)
        if t.shape[0] != sizes[self.rank]:
            raise ValueError(f"rank {self.rank} holds {t.shape[0]} rows, its share of {n} "
                             f"is {sizes[self.rank]}")
        return self._gather_sized(t, sizes)

    def _gather_sized(self, t: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        """Every rank's ``t`` (rank r holding ``sizes[r]`` rows), padded to the longest for
        ``all_gather`` and concatenated in rank order on ``t``'s device."""
        width = max(sizes)
        x = self._to(t.detach())
        if x.shape[0] < width:
            x = torch.cat([x, x.new_zeros((width - x.shape[0], *x.shape[1:]))])
        parts = [torch.empty_like(x) for _ in range(self.size)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat([p[:s] for p, s in zip(parts, sizes)]).to(t.device)

    def gather_any(self, t: torch.Tensor) -> torch.Tensor:
        """Every rank's ``t`` (each of its own length, no gradient) concatenated in rank
        order; ``t`` when single-process."""
        if not self.active:
            return t
        count = torch.tensor([t.shape[0]], device=self.device)
        counts = [torch.empty_like(count) for _ in range(self.size)]
        dist.all_gather(counts, count)
        return self._gather_sized(t, [int(c) for c in counts])

    def average(self, value: torch.Tensor) -> torch.Tensor:
        """The mean over the ranks of a tensor (no gradient); ``value`` when single-process."""
        if not self.active:
            return value
        x = self._to(value.detach().clone())
        dist.all_reduce(x)
        return (x / self.size).to(value.device)

    def same_everywhere(self, value: int, what: str) -> None:
        """Raise ``ValueError`` unless every rank holds the same integer ``value``."""
        if not self.active:
            return
        x = torch.tensor([value, -value], dtype=torch.float64, device=self.device)
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
        if int(x[0]) != value or int(-x[1]) != value:
            raise ValueError(f"the ranks disagree on {what} (rank {self.rank}: {value}); "
                             "every rank must read the same checkpoint folder")

    def sync_rows(self, buffers, index: torch.Tensor) -> None:
        """Make the rows of per-example buffers (first dimension N) that the ranks updated
        the same everywhere: rank r updated rows ``index`` (its own, disjoint from the other
        ranks'); afterwards every rank holds every rank's updates."""
        if not self.active or not buffers:
            return
        all_index = self.gather_any(index)
        for buf in buffers:
            buf[all_index] = self.gather_any(buf[index]).to(buf.dtype)

    def barrier(self) -> None:
        """Wait for every rank (no-op when single-process)."""
        if self.active:
            dist.barrier()

    def wrap(self, net: nn.Module) -> nn.Module:
        """``net`` wrapped in ``DistributedDataParallel`` (``net`` itself when
        single-process). Buffers are not broadcast: :class:`GlobalBatchNorm` keeps them
        equal on every rank."""
        if not self.active:
            return net
        from torch.nn.parallel import DistributedDataParallel

        param = next(net.parameters())
        ids = None
        if param.device.type == "cuda":
            ids = [param.device.index if param.device.index is not None
                   else torch.cuda.current_device()]
        # no buffer broadcast before each forward pass (the name of the switch changed)
        import inspect

        params = inspect.signature(DistributedDataParallel.__init__).parameters
        quiet = ({"forward_sync_buffers": False} if "forward_sync_buffers" in params
                 else {"broadcast_buffers": False})
        return DistributedDataParallel(net, device_ids=ids, **quiet)


SINGLE = World()


def current() -> World:
    """The :class:`World` of this process: :data:`SINGLE` unless a process group of more
    than one process is initialized (and not inside :func:`local`)."""
    if (not AVAILABLE or _LOCAL_DEPTH[0] or not dist.is_initialized()
            or dist.get_world_size() <= 1):
        return SINGLE
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    return World(rank=dist.get_rank(), size=dist.get_world_size(),
                 local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())), device=device)


@contextlib.contextmanager
def local():
    """Within this block :func:`current` is :data:`SINGLE`: training and evaluation run in
    this process alone, with no collective (e.g. rank 0 restoring the best epoch's network)."""
    _LOCAL_DEPTH[0] += 1
    try:
        yield
    finally:
        _LOCAL_DEPTH[0] -= 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; the gradient is the sum of the ranks' gradients (as
    ``torch.distributed.nn.functional.all_reduce``)."""

    @staticmethod
    def forward(ctx, tensor):  # noqa: ARG004
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # noqa: ARG004
        return _AllReduceSum.apply(grad)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Differentiable sum of ``t`` over the ranks. With every rank's loss L_r and DDP's
    average of the gradients, the gradient through this sum is that of (1/P) sum_r L_r."""
    return _AllReduceSum.apply(t)


# ------------------------------------------------------------------------------ BatchNorm
class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of a distributed run (any input (N, C, ...)).

    In training mode with more than one process, the per-channel mean and (biased) variance
    are those of the rows of every rank: ``sum x`` and the row count are all-reduced, then
    ``sum (x - mean)^2`` (two passes, as exact as one process's BatchNorm), both with
    autograd so that the gradient is that of one process on the global batch. The running
    statistics are updated with the global mean and the unbiased global variance, so they
    stay equal on every rank. In eval mode, or in a single process, it is plain BatchNorm.
    The same parameters and buffers (same ``state_dict`` keys) as the layer it replaces;
    see :func:`convert_batchnorm`.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and current().active):
            return super().forward(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        xf = x.float()
        count = torch.tensor([x.numel() // max(c, 1)], dtype=torch.float32, device=x.device)
        total = all_reduce_sum(torch.cat([xf.sum(dims), count]))
        n = total[-1].detach()
        mean = total[:-1] / n
        centred = xf - mean.view(shape)
        var = all_reduce_sum((centred * centred).sum(dims)) / n
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                unbiased = var.detach() * (n / (n - 1).clamp_min(1))
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        return out.to(x.dtype)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace, in place, every ``BatchNorm1d/2d/3d`` layer under ``module`` by a
    :class:`GlobalBatchNorm` sharing its parameters and buffers (so optimizers and state
    dicts are unaffected); returns ``module`` (or the replacement when ``module`` is itself
    a BatchNorm layer)."""
    kinds = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    if type(module) in kinds:
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        new._original_class = type(module)
        _move_state(module, new)
        return new
    for name, child in module.named_children():
        new = convert_batchnorm(child)
        if new is not child:
            setattr(module, name, new)
    return module


def revert_batchnorm(module: nn.Module) -> nn.Module:
    """Undo :func:`convert_batchnorm` in place (the original classes, the same tensors)."""
    if isinstance(module, GlobalBatchNorm):
        cls = getattr(module, "_original_class", nn.BatchNorm2d)
        new = cls(module.num_features, module.eps, module.momentum, module.affine,
                  module.track_running_stats)
        _move_state(module, new)
        return new
    for name, child in module.named_children():
        new = revert_batchnorm(child)
        if new is not child:
            setattr(module, name, new)
    return module


def _move_state(old: nn.Module, new: nn.Module) -> None:
    with torch.no_grad():
        if old.affine:
            new.weight, new.bias = old.weight, old.bias
        if old.track_running_stats:
            new.running_mean, new.running_var = old.running_mean, old.running_var
            new.num_batches_tracked = old.num_batches_tracked
    new.train(old.training)


# ------------------------------------------------------------------------------ launch
def backend_for(device) -> str:
    """``"nccl"`` when ``device`` (or, when None, the default device) is a CUDA device,
    else ``"gloo"``."""
    if device is None:
        return "nccl" if torch.cuda.is_available() else "gloo"
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    """True when the environment describes a process group of more than one process
    (``WORLD_SIZE`` > 1, as ``torchrun`` sets it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def init_from_env(backend: str | None = None) -> World:
    """Join the process group described by the environment, as ``torchrun`` sets it:
    ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``
    (``init_method="env://"``). With nccl, this process uses GPU ``LOCAL_RANK``. Returns
    :func:`current`; :data:`SINGLE` when ``WORLD_SIZE`` is unset or 1.

    Args:
        backend: "gloo" (CPU) or "nccl" (CUDA); default :func:`backend_for` (None).

    Raises:
        ValueError: torch.distributed is not available, malformed variables, or nccl with
            fewer GPUs than processes on this machine.
    """
    if not launched_by_torchrun():
        return current()
    if not AVAILABLE:
        raise ValueError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if dist.is_initialized():
        return current()
    try:
        local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    except ValueError:
        raise ValueError(f"LOCAL_RANK must be an integer, got {os.environ.get('LOCAL_RANK')!r}") from None
    backend = backend or backend_for(None)
    if backend == "nccl":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"process {local_rank} needs GPU {local_rank} but "
                             f"{torch.cuda.device_count()} are visible; use --device cpu or "
                             "fewer processes per machine")
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, init_method="env://")
    return current()


def shutdown(barrier: bool = False) -> None:
    """Leave the process group (if this process is in one).

    Args:
        barrier: first wait until every rank arrives here (pass True only after this rank's
            work succeeded: a rank that failed never arrives). Ranks that leave together do
            not tear down a connection a peer still uses (gloo can abort a process then).
    """
    if AVAILABLE and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at the time of the call (for ``MASTER_PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise SystemExit(143)


def _entry(rank, nproc, port, backend, threads, fn, args, kwargs, folder, setup):
    """A spawned process: torchrun's environment, the process group, ``fn``; rank 0's
    return value and any rank's error go to files in ``folder``."""
    signal.signal(signal.SIGTERM, _on_sigterm)  # atomic writes clean up, as on Ctrl-C
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                      LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if threads:
        torch.set_num_threads(int(threads))
    done = False
    try:
        if setup is not None:
            setup()
        init_from_env(backend)
        result = fn(*args, **(kwargs or {}))
        if rank == 0:
            _write_pickle(Path(folder) / "result.pkl", result)
        # this rank's work is complete: a crash from here on (gloo's threads at teardown,
        # "terminate called without an active exception") cannot change the result
        (Path(folder) / f"done-{rank}").touch()
        done = True
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        _write_pickle(Path(folder) / f"error-{rank}.pkl", _portable(exc))
        raise
    finally:
        shutdown(barrier=done)  # ranks that succeeded leave the group together


def _write_pickle(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh)
    os.replace(tmp, path)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        back = pickle.loads(pickle.dumps(exc))
        if isinstance(back, BaseException) and type(back) is type(exc):
            return exc
    except Exception:  # noqa: BLE001 - any unpicklable exception
        pass
    return RuntimeError(f"{type(exc).__name__}: {one_line(exc)}")


def _collateral(exc: BaseException) -> bool:
    """True for the errors a rank raises because another rank stopped (a closed connection,
    a collective that timed out)."""
    if AVAILABLE and isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("gloo", "connection closed", "connection reset", "nccl",
                            "broken pipe", "timed out"))


def _completed(folder: Path, nproc: int) -> bool:
    """True when every rank marked its work done, rank 0 wrote the result and no rank
    wrote an error."""
    return ((folder / "result.pkl").is_file()
            and all((folder / f"done-{r}").is_file() for r in range(nproc))
            and not any(folder.glob("error-*.pkl")))


def _chosen_error(folder: Path, nproc: int, failure: BaseException) -> BaseException:
    """The error to report: the lowest rank's error that is not collateral (else the lowest
    rank's), its message prefixed with the rank when that is not 0."""
    errors = []
    for rank in range(nproc):
        path = folder / f"error-{rank}.pkl"
        if path.is_file():
            try:
                with open(path, "rb") as fh:  # written by our own child process
                    errors.append((rank, pickle.load(fh)))
            except Exception:  # noqa: BLE001 - a half-written file of a killed process
                continue
    if not errors:
        return RuntimeError(f"a training process stopped: {one_line(failure).splitlines()[0]}"
                            if str(failure) else "a training process stopped")
    real = [(r, e) for r, e in errors if not _collateral(e)] or errors
    rank, exc = real[0]
    if rank != 0 and exc.args and isinstance(exc.args[0], str) and not isinstance(exc, OSError):
        exc.args = (f"rank {rank}: {exc.args[0]}", *exc.args[1:])
    return exc


def launch(fn, nproc: int, *, args=(), kwargs=None, backend: str | None = None,
           threads: int | None = None, setup=None):
    """Run ``fn(*args, **kwargs)`` in ``nproc`` new local processes joined in a process
    group (DDP); return rank 0's return value.

    Each process gets torchrun's environment variables (``RANK`` = ``LOCAL_RANK`` = its
    index, ``WORLD_SIZE`` = ``nproc``, ``MASTER_ADDR`` 127.0.0.1, ``MASTER_PORT`` a free
    port) and joins through :func:`init_from_env`, so ``fn`` runs exactly as under
    ``torchrun --nproc-per-node nproc``. ``nproc == 1`` calls ``fn`` in this process.

    Args:
        fn: a module-level function (it is pickled to the new processes, start method
            "spawn"); every rank calls it. Its return value on rank 0 must be picklable.
        nproc: number of processes, >= 1.
        args, kwargs: its arguments (picklable).
        backend: "gloo" or "nccl" (default: nccl when CUDA is available, else gloo).
        threads: torch threads per process (default: the usable CPU cores / ``nproc``,
            at least 1).
        setup: optional module-level callable run first in each process (e.g. signal
            handlers).

    Returns:
        What ``fn`` returned on rank 0.

    Raises:
        ValueError: ``nproc`` < 1, a launch from inside a distributed run, nccl with fewer
            GPUs than processes; and the first error of any rank (the others are stopped):
            the exception that rank raised, of its type, its message prefixed with
            ``rank r:`` for r > 0.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be an integer >= 1, got {nproc!r}")
    if nproc == 1:
        return fn(*args, **(kwargs or {}))
    if not AVAILABLE:
        raise ValueError("nproc > 1 needs torch.distributed, which this torch build lacks")
    if current().active or launched_by_torchrun():
        raise ValueError("nproc: already inside a distributed run (torchrun sets WORLD_SIZE); "
                         "leave --nproc out under torchrun")
    backend = backend or backend_for(None)
    if backend == "nccl" and torch.cuda.device_count() < nproc:
        raise ValueError(f"nproc {nproc} with CUDA needs {nproc} GPUs, "
                         f"{torch.cuda.device_count()} visible; use --device cpu")
    if threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // nproc)
    import torch.multiprocessing as tmp

    folder = Path(tempfile.mkdtemp(prefix="labelnoise-ddp-"))
    context = None
    try:
        context = tmp.start_processes(
            _entry, args=(nproc, free_port(), backend, threads, fn, args, kwargs, str(folder),
                          setup),
            nprocs=nproc, join=False, start_method="spawn")
        try:
            while not context.join(grace_period=GRACE_SECONDS):
                pass
        except (tmp.ProcessRaisedException, tmp.ProcessExitedException) as failure:
            if not _completed(folder, nproc):
                raise _chosen_error(folder, nproc, failure) from None
            # every rank finished its work and rank 0 wrote the result; a process that then
            # died while leaving the process group (a teardown race in gloo's C++ threads,
            # seen as SIGABRT) lost nothing
        result_file = folder / "result.pkl"
        if not result_file.is_file():
            raise RuntimeError("the training processes ended without a result (interrupted?)")
        with open(result_file, "rb") as fh:  # written by our own rank-0 process
            return pickle.load(fh)
    finally:
        if context is not None:
            for p in context.processes:
                if p.is_alive():
                    p.terminate()
            for p in context.processes:
                p.join(30)
                if p.is_alive():
                    p.kill()
                    p.join()
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["World", "SINGLE", "current", "local", "all_reduce_sum", "GlobalBatchNorm",
           "convert_batchnorm", "revert_batchnorm", "backend_for", "launched_by_torchrun",
           "init_from_env", "shutdown", "free_port", "launch", "AVAILABLE"]
