"""Ships the top-level ``boards/`` and ``firmware_templates/`` inside the wheel.

They stay at the top of the source tree (the design card puts them there, as
data anyone can read and extend) and are copied to ``jsqat_embed/data/`` at
build time, where the loaders look first.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_FOLDERS = ("boards", "firmware_templates")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        for name in DATA_FOLDERS:
            source = root / name
            if source.is_dir():
                target = Path(self.build_lib) / "jsqat_embed" / "data" / name
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithData})
