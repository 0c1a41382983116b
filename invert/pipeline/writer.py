"""Writing one target's outputs, in the order that makes an incomplete set detectable (invert.pipeline.outputs):
the metrics file first as a claim ("started"), then the aligned target, the latent with its noise maps and
record, the tuned update, the reconstruction and comparison images, the animation, and the metrics again,
last, with the final status and every measurement.

Every file is written atomically (invert.fileio). `overwrite` is True only where replacing is allowed: with
`force`, or for this command's own unfinished outputs (a partial set); otherwise a file that appeared
meanwhile is never replaced (OutputExistsError). The final metrics always replace the claim, which is ours.
"""
import datetime
import logging
import os

from invert.pipeline.outputs import STARTED, input_identity

log = logging.getLogger(__name__)


def write_claim(paths, *, input_path, target, run, overwrite):
    """Write the "started" metrics of a target about to be written (see the module doc)."""
    from invert.fileio import save_json

    save_json(paths["metrics"], {"status": STARTED, "input": str(input_path),
                                 "input_file": input_identity(input_path), "face_index": target.face, "run": run,
                                 "outputs": {name: str(path) for name, path in paths.items()}},
              overwrite=overwrite)


def write_outcome(outcome, paths, *, input_path, G, settings, models, run, overwrite):
    """Write every output of `outcome` (a stages.Outcome) to `paths`; returns its metrics record (a dict)."""
    from invert.fileio import save_json
    from invert.images import AnimationWriter, generator_metadata, save_png, side_by_side
    from invert.latents import save_latent
    from invert.records import latent_record
    from invert.report import json_ready

    target = outcome.target
    save_png(paths["aligned"], target.image, overwrite=overwrite)
    tuned_name = None
    if outcome.tuning is not None:
        from invert.tuning import save_update

        save_update(paths["tuned"], outcome.tuning.update, overwrite=overwrite)
        tuned_name = paths["tuned"].name  # the record names it relative to the latent's folder
    record = latent_record(G, generator_spec=settings.generator_spec, command="project", inputs=[str(input_path)],
                           tuned=tuned_name)
    save_latent(paths["latent"], outcome.ws, noise=outcome.noise, record=record, overwrite=overwrite)

    metadata = generator_metadata(G)  # rendered images name their generator (and say when it is random)
    if tuned_name:  # the keys every editing command writes (invert.cli._latent_outputs.write_png)
        metadata.update(tuned_update=os.path.abspath(paths["tuned"]), tuned_rank=str(outcome.tuning.update.rank))
    save_png(paths["proj"], outcome.image, metadata=metadata, overwrite=overwrite)
    save_png(paths["compare"], side_by_side(target.image, outcome.image), metadata=metadata, overwrite=overwrite)
    frames = outcome.projection.frames
    if "video" in paths and frames:
        with AnimationWriter(paths["video"], fps=settings.fps, overwrite=overwrite) as animation:
            for frame in frames:
                animation.append(side_by_side(target.image, frame[outcome.index]))

    metrics = metrics_record(outcome, paths, input_path=input_path, G=G, settings=settings, models=models, run=run)
    save_json(paths["metrics"], json_ready(metrics), overwrite=True)
    return metrics


def metrics_record(outcome, paths, *, input_path, G, settings, models, run):
    """The final `<stem>_metrics.json` of a target: invert.report.projection_record of its final image, the
    figures after each stage, the face's detector score, the tuning, the status, and the run's key."""
    from invert.metrics import reconstruction_metrics
    from invert.report import projection_record, stage_metrics

    target, tuning = outcome.target, outcome.tuning
    listed = {name: str(path) for name, path in paths.items() if name != "video" or outcome.projection.frames}
    final = reconstruction_metrics(target.image, outcome.image, lpips_model=models.lpips, lpips_note=models.lpips_note)
    record = projection_record(outcome.projection, outcome.index, target=target.image, generator=G, models=models,
                               reconstruction=outcome.image, metrics=final, extra={
                                   "input": str(input_path), "input_path": os.path.abspath(input_path),
                                   "input_file": input_identity(input_path),
                                   "aligned": settings.targets.align,
                                   "face_index": target.face, "face_score": target.face_score,
                                   "faces_found": target.faces_found, "outputs": listed})
    record["settings"].update(loss=settings.loss, mask=target.mask is not None)
    stages = stage_metrics(target.image, outcome.stage_images, models=models, final=(outcome.image, final))
    projection = outcome.projection
    stages["w"].update(steps=projection.steps_w, loss=float(projection.loss_w[outcome.index]))
    if "noise" in stages:
        stages["noise"].update(steps=projection.steps_noise, loss=float(projection.loss_noise[outcome.index]))
    record["steps"]["tune"] = 0
    record["tuned"] = None
    if tuning is not None:
        stages["tune"].update(steps=tuning.steps, loss=tuning.loss)
        record["steps"]["tune"] = tuning.steps
        record["tuned"] = paths["tuned"].name
        record["tuning"] = {"interrupted": tuning.interrupted, "seconds": round(tuning.seconds, 3),
                            "settings": tuning.settings, "rank": tuning.update.rank}
        record["interrupted"] = bool(record["interrupted"] or tuning.interrupted)
    record["stages"] = stages
    record["status"] = outcome.status
    if outcome.error:
        record["error"] = outcome.error
    record["seconds_image"] = round(outcome.seconds, 3)
    record["run"] = run
    record["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return record
