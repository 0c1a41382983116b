"""Projecting photos at dataset scale: streaming, failure isolation, resumable runs, many devices.

One module per job:
- `inputs`       which photos: files, folders (recursive), globs, list files, enumerated lazily;
- `targets`      photo -> aligned targets, a DataLoader Dataset read in worker processes;
- `stages`       a batch through W+, noise and pivotal tuning, keeping each stage's result;
- `writer`       one target's outputs, written so that an incomplete set is detectable;
- `outputs`      output names, and what an earlier run left (resume);
- `manifest`     the run's index, `<outdir>/manifest.jsonl`, written without locks by many processes;
- `distributed`  torchrun's ranks: devices, shares, the little coordination;
- `settings`     what a run is asked to do, and which of it decides the results;
- `run`          the run itself, `project_dataset`.

From Python:

    from invert.pipeline import RunSettings, TargetOptions, enumerate_inputs, project_dataset
    from invert.report import perceptual_models

    G = invert.load_generator("ffhq-1024", device="cuda")
    settings = RunSettings(TargetOptions(resolution=G.resolution), projector={"num_steps": 1000},
                           generator_spec="ffhq-1024", outdir="out", workers=4)
    summary = project_dataset(G, list(enumerate_inputs(["photos/"], recursive=True)), settings=settings,
                              models=perceptual_models("vgg", device="cuda"))
"""
from invert.pipeline.inputs import InputFile, enumerate_inputs, read_list
from invert.pipeline.run import Reporter, Summary, folder_locks, project_dataset, run_folders
from invert.pipeline.settings import RunSettings, TargetOptions, TuneOptions

__all__ = ["InputFile", "Reporter", "RunSettings", "Summary", "TargetOptions", "TuneOptions", "enumerate_inputs",
           "folder_locks", "project_dataset", "read_list", "run_folders"]
