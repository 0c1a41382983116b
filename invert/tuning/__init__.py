"""Pivotal tuning (PTI) of the synthesis network around a projected latent, stored as a compact update.

One job per module:
- `update`     what is tuned (conv weights and biases, in full or as rank-R factors), applying an
               update to a generator without changing it, blending updates;
- `pivotal`    the optimisation loop, `tune(G, ws, target, ...)`;
- `locality`   PTI's locality regulariser;
- `tuned_file` the `<stem>_tuned.safetensors` file: save, load (checked against the generator), describe.
"""
from invert.tuning.locality import Locality
from invert.tuning.pivotal import DEFAULT_RANK, TUNE_LEARNING_RATE, TUNE_STEPS, Tuning, tune
from invert.tuning.tuned_file import describe_update, load_update, save_update, tuned_generator, tuned_path
from invert.tuning.update import FULL, TunedUpdate, apply_update, blend_as_update, blend_updates, check_rank, layout

__all__ = ["DEFAULT_RANK", "FULL", "Locality", "TUNE_LEARNING_RATE", "TUNE_STEPS", "TunedUpdate", "Tuning",
           "apply_update", "blend_as_update", "blend_updates", "check_rank", "describe_update", "layout", "load_update",
           "save_update", "tune", "tuned_generator", "tuned_path"]
