"""Ships the top-level ``boards/`` and ``firmware_templates/`` inside the package.

They stay at the top of the source tree (the design card puts them there, as
data anyone can read and extend) and are mapped, not copied, into the package
as ``jsqat_embed.data.boards`` and ``jsqat_embed.data.firmware_templates``:
setuptools' ``package_dir`` puts them in the sdist and in every wheel, the one
built from the sdist included. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

ROOT = Path(__file__).resolve().parent
DATA_FOLDERS = {"boards": "jsqat_embed.data.boards", "firmware_templates": "jsqat_embed.data.firmware_templates"}

packages = find_packages(include=["jsqat_embed", "jsqat_embed.*"])
package_dir = {}
package_data = {}
for folder, package in DATA_FOLDERS.items():
    package_dir[package] = folder
    for sub in [""] + find_namespace_packages(where=str(ROOT / folder)):
        name = f"{package}.{sub}" if sub else package
        packages.append(name)
        package_data[name] = ["*"]

setup(packages=packages, package_dir=package_dir, package_data=package_data)
