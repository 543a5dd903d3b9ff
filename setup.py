"""Packaging hook (the rest of the metadata is in pyproject.toml).

An installed prelnedge must build web bundles too, and their page lives in runtimes/web, outside
the import package. The wheel therefore carries it as package data: the page's sources and the
package-lock.json that pins onnxruntime-web (its ~14 MB of wasm are fetched, checked and cached at
bundle time instead; see prelnedge/bundle/web_runtime.py), copied into prelnedge/web_runtime/.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEB = Path(__file__).resolve().parent / "runtimes" / "web"


def web_runtime_files() -> list[Path]:
    return [WEB / "package.json", WEB / "package-lock.json",
            *(p for p in sorted((WEB / "src").rglob("*")) if p.is_file())]


class BuildPyWithWebRuntime(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "prelnedge" / "web_runtime"
        for path in web_runtime_files():
            self.copy_file(str(path), str(target / path.relative_to(WEB)), preserve_mode=False)

    def copy_file(self, infile, outfile, *args, **kwargs):
        Path(outfile).parent.mkdir(parents=True, exist_ok=True)
        return super().copy_file(infile, outfile, *args, **kwargs)


setup(cmdclass={"build_py": BuildPyWithWebRuntime})
