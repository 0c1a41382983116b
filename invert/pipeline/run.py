"""Projecting a set of photos, as one run: the steps of invert.pipeline tied together.

    inputs = list(enumerate_inputs(["photos/"], recursive=True))
    with folder_locks(run_folders(inputs, "out"), coordinator):
        summary = project_dataset(G, inputs, settings=settings, models=models, coordinator=coordinator)

What `project_dataset` does, on every rank of a torchrun (or the one process):
1. names every input's outputs; an input whose outputs would have another input's names, or would replace
   an input file of the run (a photo, the mask, a resumed latent), is skipped with the reason;
2. looks at what earlier runs left (invert.pipeline.outputs): complete outputs of the same command are not
   redone; another command's files are refused unless `force` (before any work, naming the first); every
   output folder must be writable;
3. shares the inputs still to do between the ranks (invert.pipeline.distributed), and streams its share
   through a DataLoader (invert.pipeline.targets) into batches;
4. for each batch: claims its targets (invert.pipeline.writer), runs the stages (invert.pipeline.stages),
   writes each target's outputs and appends the batch's manifest rows (invert.pipeline.manifest). Stop
   signals are held back while a batch is written, so a batch is written whole or its targets are left
   for the next run;
5. at the end, waits for the other ranks, adds up the counts, and rank 0 merges the manifest.

A bad photo or a failure of one image is reported (`Reporter.problem`) and recorded, and the run goes
on. Running out of memory or of disk stops the run with the error, after writing what was finished. A
stop signal (Ctrl-C, SIGTERM, SIGHUP) ends the batch being optimised with its best result so far, writes
it, and returns a Summary with `stopped` set; a distributed rank then leaves without waiting for the
others. Nothing written is ever rewritten by this run except this command's own unfinished outputs.
"""
import contextlib
import datetime
import json
import logging
import secrets
import signal
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

from invert.errors import InvertError, OutOfMemoryError, OutputError, OutputExistsError
from invert.pipeline import manifest as manifest_files
from invert.pipeline.distributed import Coordinator, Ranks, check_same_inputs, shard
from invert.pipeline.outputs import (COMPLETE, CONFLICT, FAILED, FRESH, INTERRUPTED, PROJECTED, examine,
                                     output_folder, output_paths, sweep_temporary, target_stem, touched_paths)
from invert.pipeline.stages import run_stages
from invert.pipeline.targets import SKIPPED, Problem, TargetDataset, prefetch_for, target_loader

log = logging.getLogger(__name__)

LOCK_NAME = ".stylegan-invert.lock"


@dataclass
class Summary:
    """What a run did, counted in inputs (photos); `latents` counts the latents written."""

    inputs: int = 0
    projected: int = 0        # every target projected and written by this run
    already: int = 0          # complete from an earlier run of the same command: not redone
    skipped: int = 0          # the photo cannot be used (unreadable, no face, its outputs clash)
    failed: int = 0           # some target failed (its earlier stages may be written)
    interrupted: int = 0      # written with the best result so far when the run was stopped
    unfinished: int = 0       # not reached: the run was stopped first
    latents: int = 0
    manifest: Optional[str] = None
    stopped: bool = False     # a stop signal ended the run

    @property
    def all_done(self):
        """Every input projected (now or earlier)."""
        return self.projected + self.already == self.inputs

    def __add__(self, other):
        total = Summary()
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            setattr(total, f.name, (a or b) if f.name in ("manifest", "stopped") else a + b)
        return total


class Reporter:
    """What a run tells as it goes; the command line prints it, this default logs it."""

    def start(self, total, done):
        """`total` inputs for this process, `done` of them settled before any work."""

    def advance(self, count=1):
        """`count` more inputs settled (written, skipped or failed)."""

    def projected(self, record, paths):
        log.info("%s: PSNR %s", paths["latent"], record.get("psnr"))

    def problem(self, input_path, problem, *, face=None):
        what = input_path if face is None else f"{input_path} (face {face})"
        log.warning("%s %s: %s", problem.kind, what, problem.message)

    def close(self):
        pass


def run_folders(inputs, outdir):
    """The folders a run writes into: `outdir`, or every folder holding an input."""
    if outdir is not None:
        return [Path(outdir)]
    return sorted({item.path.parent for item in inputs}, key=str)


@contextlib.contextmanager
def folder_locks(folders, coordinator=None):
    """Keep other runs out of `folders` while the block runs: rank 0 holds a lock file in each (see
    invert.fileio.locked); a folder another run holds is an InvertError, on every rank."""
    from invert.fileio import check_folder_for, locked

    ranks = coordinator.ranks if coordinator is not None else Ranks()
    with contextlib.ExitStack() as stack:
        error = None
        if ranks.is_main:
            _allow_open_files(len(folders) + 256)  # a lock holds its file open: one per folder, for the run
            try:
                for folder in folders:
                    check_folder_for(Path(folder) / LOCK_NAME)
                    stack.enter_context(locked(Path(folder) / LOCK_NAME, wait=False, what=f"the folder {folder}"))
            except InvertError as exc:
                error = _portable(exc)
            except OSError as exc:  # EMFILE beyond the hard limit, or a lock file that cannot be opened
                error = _portable(InvertError(
                    f"cannot hold the locks of the {len(folders)} folders this run writes into "
                    f"({exc.strerror or exc}); "
                    "project into one --outdir instead"))
        if coordinator is not None:
            error = coordinator.broadcast(error)
        if error is not None:
            raise _rebuilt(error)
        yield


def _allow_open_files(count):
    """Raise this process's soft limit of open files towards `count` (up to the hard limit) where needed."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.debug("could not raise the open-file limit to %d: %s", wanted, exc)


def new_attempt_id():
    """A name for one run, sortable by its start time to the microsecond (a rerun a moment later must sort
    after the run it redoes: the manifest keeps the latest attempt's rows): 20261205T101500.123456Z-3f9a2c."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S.%f}Z-{secrets.token_hex(3)}"


def project_dataset(G, inputs, *, settings, models, tune_perceptual=None, init_ws=None, init_noise=None,
                    coordinator=None, reporter=None, run_inputs=()):
    """Project `inputs` (InputFile list) with generator G as `settings` (RunSettings) say -> Summary.

    `models` are the perceptual networks (invert.report.perceptual_models), `tune_perceptual` the loss
    network of tuning; `init_ws`/`init_noise` a latent and noise maps to continue from (one input);
    `coordinator` the ranks of a distributed run (None: one process); `reporter` receives what happens;
    `run_inputs` are the run's other input files (mask, resumed latent and its files), never replaced.
    """
    run = _Run(G, list(inputs), settings=settings, models=models, tune_perceptual=tune_perceptual,
               init_ws=init_ws, init_noise=init_noise, coordinator=coordinator or Coordinator(Ranks(), "cpu"),
               reporter=reporter or Reporter(), run_inputs=run_inputs)
    return run.execute()


class _Stopped(Exception):
    """A stop signal ended a batch; the batch is written."""


class _Run:
    def __init__(self, G, inputs, *, settings, models, tune_perceptual, init_ws, init_noise, coordinator, reporter,
                 run_inputs):
        from invert.report import json_ready

        self.G, self.inputs, self.settings, self.models = G, inputs, settings, models
        self.tune_perceptual, self.init_ws, self.init_noise = tune_perceptual, init_ws, init_noise
        self.coordinator, self.ranks, self.reporter = coordinator, coordinator.ranks, reporter
        self.run_inputs = [Path(p) for p in run_inputs if p is not None]
        key = settings.result_key(G, vgg_info=models.vgg_info, has_init_noise=init_noise is not None)
        self.key = json.loads(json.dumps(json_ready(key), sort_keys=True))  # as it reads back from a file
        self.naming = dict(noise_file=settings.noise or init_noise is not None, tune=settings.tune is not None,
                           video_format=settings.video_format)
        self.outdir = None if settings.outdir is None else Path(settings.outdir)
        self.summary = Summary(inputs=len(inputs))
        self.part = None
        self.overwrite = {}     # input index -> whether its earlier files may be replaced
        self.open_inputs = {}   # input index -> [targets left, statuses so far]
        self.settled = 0

    # --- the run ----------------------------------------------------------------------------------------

    def execute(self):
        check_same_inputs(self.inputs, self.coordinator)
        self.attempt = self.coordinator.broadcast(new_attempt_id() if self.ranks.is_main else None)
        self.run_info = {"key": self.key, "attempt": self.attempt}
        if self.outdir is not None:
            self.part = manifest_files.ManifestPart(self.outdir, attempt=self.attempt, rank=self.ranks.rank)
        planned = False
        try:
            share = self._plan()
            planned = True
            self._project(share)
        finally:
            self.reporter.close()
            if self.part is not None:
                self.part.close()
            if not self.ranks.distributed and planned:  # a run refused before any work leaves the index alone
                self._merge_alone()
        if not self.ranks.distributed or self.summary.stopped:
            return self.summary  # a stopped rank leaves at once: the others may be gone
        self.coordinator.wait_for_all()
        total = sum(self.coordinator.gather(self._countable()), Summary())
        total.inputs = len(self.inputs)
        if self.outdir is not None:
            if self.ranks.is_main:
                manifest_files.merge(self.outdir)
            total.manifest = str(manifest_files.manifest_path(self.outdir))
        self.coordinator.wait_for_all()  # the ranks leave together, once the manifest is whole
        return total

    def _countable(self):
        counted = Summary(**{f.name: getattr(self.summary, f.name) for f in fields(Summary)})
        counted.inputs, counted.manifest = 0, None
        return counted

    def _merge_alone(self):
        """One process: merge the manifest now (a stopped or failed run too; its index stays current)."""
        if self.outdir is None:
            return
        try:
            manifest_files.merge(self.outdir)
            self.summary.manifest = str(manifest_files.manifest_path(self.outdir))
        except (OSError, InvertError) as exc:
            log.warning("warning: could not update %s: %s", manifest_files.manifest_path(self.outdir), exc)

    # --- before any work -----------------------------------------------------------------------------

    def _plan(self):
        """Steps 1-2 of the module doc -> this rank's share of the inputs to project (indices)."""
        from invert.fileio import InputFiles

        owners, clashes = {}, {}
        for index, item in enumerate(self.inputs):
            name = str(output_folder(item, self.outdir) / target_stem(item)).lower()
            if name in owners:
                clashes[index] = owners[name]
            else:
                owners[name] = index
        known = manifest_files.known_rows(self.outdir) if self.outdir is not None else set()
        protected = InputFiles([item.path for item in self.inputs] + self.run_inputs)
        mine = shard(list(range(len(self.inputs))), self.ranks)
        results, rows, error = {}, [], None
        try:
            for index in mine:
                results[index] = self._examine(index, clashes, protected, known, rows)
            self._check_folders([i for i in mine if results[i][0] == "todo"])
        except (InvertError, OSError) as exc:
            error = _portable(exc)
        if self.part is not None:
            self.part.append(rows)
        gathered = self.coordinator.gather((results, error))
        errors = [e for _, e in gathered if e is not None]
        if errors:
            raise _rebuilt(errors[0])
        every = {}
        for part, _ in gathered:
            every.update(part)
        conflicts = sorted(i for i, r in every.items() if r[0] == CONFLICT)
        if conflicts:
            first = every[conflicts[0]]
            more = f" (and the outputs of {len(conflicts) - 1} more input(s))" if len(conflicts) > 1 else ""
            raise OutputExistsError(f"{first[2]} exists: {first[1]}{more}")
        todo = sorted(i for i, r in every.items() if r[0] == "todo")
        self.overwrite = {i: every[i][1] for i in todo}
        for i, result in every.items():
            if result[0] == COMPLETE:
                self.summary.already += i in results
            elif result[0] == SKIPPED:
                self.summary.skipped += i in results
        share = shard(todo, self.ranks)
        self._sweep(share)
        settled = len(self.inputs) - len(todo)
        if self.ranks.distributed:
            self.reporter.start(len(share), 0)
        else:
            self.reporter.start(len(self.inputs), settled)
        if settled and self.ranks.is_main:
            log.info("%d of %d input(s) already projected or not usable; %d to project", settled, len(self.inputs),
                     len(todo))
        return share

    def _examine(self, index, clashes, protected, known, rows):
        """-> ('todo', may overwrite) | ('complete',) | ('conflict', why, path) | ('skipped',); rows to add."""
        item = self.inputs[index]
        problem = None
        if index in clashes:
            other = self.inputs[clashes[index]].path
            problem = Problem(SKIPPED, f"its outputs would have the names of those of {other} (same name, same "
                                       f"output folder)")
        else:
            folder = output_folder(item, self.outdir)
            paths = output_paths(target_stem(item, 0 if self.settings.targets.all_faces else None), folder,
                                 **self.naming)
            for path in touched_paths(paths):
                source = protected.source(path)
                if source is not None:
                    problem = Problem(SKIPPED, f"its output {path} would replace the input {source}; outputs never "
                                               "replace inputs")
                    break
        if problem is None and not self.settings.force:
            earlier = examine(item, outdir=self.outdir, key=self.key, all_faces=self.settings.targets.all_faces,
                              latent_shape=(self.G.num_ws, self.G.w_dim), **self.naming)
            if earlier.state == COMPLETE:
                for metrics in earlier.records:
                    row = manifest_files.row_from_metrics(metrics, outdir=self.outdir or ".", rank=self.ranks.rank)
                    if manifest_files.row_key(row) not in known:
                        rows.append(row)
                return (COMPLETE,)
            if earlier.state == CONFLICT:
                return (CONFLICT, earlier.reason, str(earlier.path))
        if problem is None:
            folder = next((p for p in touched_paths(paths) if p.is_dir()), None)
            if folder is not None:
                problem = Problem(SKIPPED, f"cannot write {folder}: it is a folder")
        if problem is not None:
            self.reporter.problem(item.path, problem)
            rows.append(manifest_files.problem_row(item.path, problem, attempt=self.attempt, rank=self.ranks.rank))
            return (SKIPPED,)
        return ("todo", self.settings.force or earlier.state != FRESH)

    def _check_folders(self, indices):
        from invert.fileio import check_folder_for

        for folder in sorted({output_folder(self.inputs[i], self.outdir) for i in indices}, key=str):
            check_folder_for(folder / "x")

    def _sweep(self, share):
        """Remove what a killed run left half-written for this rank's inputs (their outputs' names only)."""
        stems, folders = set(), set()
        for index in share:
            item = self.inputs[index]
            folder = output_folder(item, self.outdir)
            folders.add(folder)
            stems.add((str(folder), target_stem(item)))
        sweep_temporary(sorted(folders, key=str), stems, all_faces=self.settings.targets.all_faces)

    # --- the work ------------------------------------------------------------------------------------

    def _project(self, share):
        settings = self.settings
        dataset = TargetDataset([(i, self.inputs[i]) for i in share], settings.targets)
        loader = target_loader(dataset, workers=settings.workers,
                               prefetch=prefetch_for(settings.batch_size, settings.workers))
        batch = []
        iterator = iter(loader)
        try:
            for prepared in iterator:
                if prepared.problem is not None:
                    self._input_problem(prepared.index, prepared.problem)
                    continue
                self.open_inputs[prepared.index] = [len(prepared.targets), []]
                batch += prepared.targets
                while len(batch) >= settings.batch_size:
                    self._batch(batch[:settings.batch_size])
                    batch = batch[settings.batch_size:]
            if batch:
                self._batch(batch)
        except (KeyboardInterrupt, _Stopped):
            self.summary.stopped = True
        finally:
            del iterator  # shuts the workers down
        for left, statuses in self.open_inputs.values():  # inputs with some targets written when stopped
            if statuses:
                self.summary.interrupted += 1
                self.settled += 1
        self.summary.unfinished = len(share) - self.settled

    def _input_problem(self, index, problem, face=None):
        item = self.inputs[index]
        self.reporter.problem(item.path, problem, face=face)
        if self.part is not None:
            self.part.append([manifest_files.problem_row(item.path, problem, attempt=self.attempt,
                                                         rank=self.ranks.rank, face_index=face)])
        self._settle(index, problem.kind)

    def _batch(self, targets):
        """Step 4 of the module doc for one batch of targets."""
        claimed = []
        for target in targets:
            paths = output_paths(target_stem(self.inputs[target.index], target.face if
                                             self.settings.targets.all_faces else None),
                                 output_folder(self.inputs[target.index], self.outdir), **self.naming)
            problem = self._claim(target, paths)
            if problem is None:
                claimed.append((target, paths))
            else:
                self._target_done(target, None, problem)
        if not claimed:
            return
        result = run_stages(self.G, [t for t, _ in claimed], settings=self.settings, perceptual=self.models.perceptual,
                            tune_perceptual=self.tune_perceptual, init_ws=self.init_ws, init_noise=self.init_noise)
        paths_of = {id(t): p for t, p in claimed}
        with _signals_deferred():
            rows = []
            try:
                for outcome in result.outcomes:
                    rows.append(self._write(outcome, paths_of[id(outcome.target)]))
                for target, problem in result.failures:
                    rows.append(self._target_done(target, None, problem, append=False))
            finally:
                if self.part is not None:
                    self.part.append([row for row in rows if row is not None])
        if result.stop is not None:
            raise result.stop
        if result.interrupted:
            raise _Stopped()

    def _claim(self, target, paths):
        """Write the target's claim; a Problem when its files cannot be written."""
        from invert.pipeline.writer import write_claim

        item = self.inputs[target.index]
        overwrite = self.overwrite.get(target.index, False)
        if not overwrite:
            for path in touched_paths(paths):
                if path.exists() or path.is_symlink():
                    return Problem(FAILED, f"{path} exists and was not written by this command",
                                   remedies=("overwrite",))
        try:
            write_claim(paths, input_path=item.path, target=target, run=self.run_info, overwrite=overwrite)
        except OutputExistsError as exc:
            return Problem.from_exception(exc, FAILED)
        return None

    def _write(self, outcome, paths):
        """Write one outcome; its manifest row (a problem row when writing failed for this target alone)."""
        from invert.pipeline.writer import write_outcome

        target = outcome.target
        item = self.inputs[target.index]
        try:
            record = write_outcome(outcome, paths, input_path=item.path, G=self.G, settings=self.settings,
                                   models=self.models, run=self.run_info, overwrite=self.overwrite.get(target.index,
                                                                                                     False))
        except OutputExistsError as exc:
            return self._target_done(target, None, Problem.from_exception(exc, FAILED), append=False)
        except OutputError:
            raise  # disk full, file-size limit, permissions: the next target would fail too
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one target's failure, unless memory ran out
            from invert.render import is_out_of_memory

            if is_out_of_memory(exc):
                raise OutOfMemoryError(f"out of memory while measuring and writing the results of {item.path}") \
                    from None
            return self._target_done(target, None, Problem.from_exception(exc, FAILED), append=False)
        self.summary.latents += 1
        self.reporter.projected(record, paths)
        if outcome.error:
            self.reporter.problem(item.path, Problem(FAILED, outcome.error),
                                  face=target.face if self.settings.targets.all_faces else None)
        row = manifest_files.row_from_metrics(record, outdir=self.outdir or ".", rank=self.ranks.rank)
        self._target_done(target, outcome.status, None, append=False)
        return row

    def _target_done(self, target, status, problem, *, append=True):
        """Count a target as done (`status`, or `problem`); returns the problem's manifest row."""
        row = None
        if problem is not None:
            face = target.face if self.settings.targets.all_faces else None
            item = self.inputs[target.index]
            self.reporter.problem(item.path, problem, face=face)
            row = manifest_files.problem_row(item.path, problem, attempt=self.attempt, rank=self.ranks.rank,
                                             face_index=face)
            if append and self.part is not None:
                self.part.append([row])
            status = FAILED
        entry = self.open_inputs.get(target.index)
        if entry is None:
            return row
        entry[0] -= 1
        entry[1].append(status)
        if entry[0] == 0:
            statuses = entry[1]
            self._settle(target.index, INTERRUPTED if INTERRUPTED in statuses else FAILED if FAILED in statuses
                         else PROJECTED)
        return row

    def _settle(self, index, status):
        self.open_inputs.pop(index, None)
        counter = {PROJECTED: "projected", FAILED: "failed", SKIPPED: "skipped", INTERRUPTED: "interrupted"}[status]
        setattr(self.summary, counter, getattr(self.summary, counter) + 1)
        self.settled += 1
        self.reporter.advance(1)


@contextlib.contextmanager
def _signals_deferred():
    """Hold stop signals (Ctrl-C, SIGTERM, SIGHUP) back while the block runs; they arrive when it ends.

    By swapping their handlers for ones that only note the signal, then raising the first one noted again
    under the restored handler. (Blocking them with pthread_sigmask would not do: it blocks the calling
    thread only, and the DataLoader's, CUDA's or tqdm's threads would still take the signal, whose Python
    handler then runs in the main thread mid-write.) A signal the process ignores (nohup) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted, previous = [], {}

    def note(signum, frame):
        noted.append(signum)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None or signal.getsignal(number) in (signal.SIG_IGN, None):
            continue
        previous[number] = signal.signal(number, note)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if noted:
            signal.raise_signal(noted[0])


def _portable(exc):
    """An error as plain data that can travel between ranks: (type name, message, remedies)."""
    remedies = tuple(getattr(exc, "remedies", ()) or ())
    if isinstance(exc, InvertError):
        return (type(exc).__name__, str(exc), remedies)
    if isinstance(exc, OSError) and exc.filename:
        return ("OutputError", f"{exc.strerror or exc}: {exc.filename}", remedies)
    return ("InvertError", " ".join(str(exc).split()) or type(exc).__name__, remedies)


def _rebuilt(portable):
    import invert.errors as errors

    name, message, remedies = portable
    kind = getattr(errors, name, InvertError)
    if not (isinstance(kind, type) and issubclass(kind, InvertError)):
        kind = InvertError
    return kind(message, remedies=remedies)
