"""The toolkit's own exception types.

Every error a user can cause (a wrong path, a corrupt checkpoint, a latent of the wrong shape, a photo
without a face) is raised as an `InvertError` whose message says what was wrong and what to do. The CLI
prints that message on one line and exits non-zero; library users can catch the type.

Messages never name command-line flags. Where a setting would fix the problem, the error lists it in
`remedies`, by the library's name for it ("overwrite", "batch_size", ...); the CLI adds the flag that
sets it, when the command that failed has one.
"""


class InvertError(Exception):
    """Base class for user-facing errors of stylegan-invert."""

    default_remedies = ()

    def __init__(self, message="", *, remedies=None):
        super().__init__(message)
        self.remedies = tuple(self.default_remedies if remedies is None else remedies)


class CheckpointError(InvertError):
    """A generator checkpoint could not be read, is of an unsupported kind, or is unsafe."""


class UnsafePickleError(CheckpointError):
    """A pickle asked for a global that is not on the allowlist."""


class WeightsError(InvertError):
    """A registry download or checksum failed, or weights needed offline are missing."""


class LatentError(InvertError):
    """A latent or noise file is unreadable or does not fit the generator."""


class ImageError(InvertError):
    """An input image or mask is unreadable or unusable."""


class FaceNotFoundError(ImageError):
    """Face alignment found no face in a photo."""


class BoundaryError(InvertError):
    """A boundary (semantic direction) is missing, malformed or belongs to another generator."""


class TuningError(InvertError):
    """A tuned generator update is unreadable, corrupt, or belongs to another generator."""


class OutputError(InvertError):
    """An output cannot be written where asked: no writable folder, it would replace an input, or the
    write failed (disk full, file-size limit)."""


class OutputExistsError(OutputError):
    """An output file exists (or appeared while it was being written) and overwriting was not asked for."""

    default_remedies = ("overwrite",)


class OutOfMemoryError(InvertError):
    """Memory ran out; the message says while doing what."""

    default_remedies = ("batch_size",)
