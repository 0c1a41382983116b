"""Where stylegan-invert keeps files of its own: $STYLEGAN_INVERT_HOME, default ~/.cache/stylegan-invert."""
import os
from pathlib import Path


def home_dir(*, create=False):
    """The toolkit's cache folder (downloaded weights, trained boundaries); created only when asked."""
    home = os.environ.get("STYLEGAN_INVERT_HOME")
    path = Path(home).expanduser() if home else Path.home() / ".cache" / "stylegan-invert"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
