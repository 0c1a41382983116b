# Metadata lives in setup.cfg. This file only adds one build step: the repository's boundaries/ folder
# (InterfaceGAN boundary manifest and files) is copied into the installed package as invert/data/boundaries,
# where invert.directions.registry looks for it when the package is not run from a checkout.
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithBoundaries(build_py):
    def run(self):
        super().run()
        source = Path(__file__).resolve().parent / "boundaries"
        if source.is_dir():
            target = Path(self.build_lib) / "invert" / "data" / "boundaries"
            shutil.copytree(source, target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithBoundaries})
