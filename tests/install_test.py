#!/usr/bin/python3
"""zinfer as its users get it: installed, linked, packaged.

Installs a build tree into a fresh temporary prefix (cmake --install) and
checks what a user of each piece would do with it:

  files      the binary, libzinfer.so with its soname, libzinfer.a, zinfer.h,
             zinfer.pc, the CMake package and the Python client, one version
  exports    nm -D: libzinfer.so exports exactly the functions zinfer.h declares
  pkgconfig  C programs built with `pkg-config --cflags --libs zinfer`: one
             runs the digits model locally (bit for bit `zinfer run`), one
             asks a topology started with the installed `zinfer up`; and
             the local one linked statically (`pkg-config --static`)
  cmake      find_package (zinfer) in a project of its own, zinfer::zinfer
             and zinfer::zinfer_static
  python     `pip install --no-index --no-build-isolation` into a venv
             (--system-site-packages for Debian's numpy, zmq and msgpack),
             then `import zinfer` asks the running topology
  deb        cpack -G DEB: contents; Depends names real Debian packages, among
             them the package of every library the binary and libzinfer.so
             link (readelf's NEEDED, ldd, dpkg -S); and the package unpacked with
             dpkg -x into a scratch root (not installed: that would change
             the system) runs the model and imports the client

Everything it starts is stopped, everything it writes is removed. Parts
whose tools are missing are skipped with a message; the test exits 77 only
if it could check nothing else.

    /usr/bin/python3 tests/install_test.py --build build --source . --port-base 28200
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from zinfer_harness import Topology  # noqa: E402

SKIP = 77
PUBLIC = re.compile(r"^    (zi_[a-z0-9_]+) \(", re.M)
DEPENDS = ["libc6", "libzmq5", "libczmq4", "libmsgpackc2", "libopenblas0",
           "libyaml-0-2", "libprotobuf-c1"]


def dpkg_owners(path):
    """The packages that hold a file, whichever name dpkg knows it by:
    Debian 12 merges /lib into /usr/lib, and the loader may name either,
    or an alternatives link to the file"""
    paths = [path, os.path.realpath(path)]
    paths += [p[4:] if p.startswith("/usr/") else "/usr" + p for p in paths]
    for candidate in paths:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            packages = result.stdout.splitlines()[0].rsplit(": ", 1)[0]
            return [name.strip().split(":")[0] for name in packages.split(",")]
    return []


def provided_by(package):
    """The virtual names a package provides (libopenblas0-pthread:
    libblas.so.3 ...)"""
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Provides}", package],
                            capture_output=True, text=True)
    return {item.split()[0] for item in result.stdout.split(",") if item.strip()}


def dependencies_of(package):
    """Every package a package's Depends names, alternatives included"""
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Depends}", package],
                            capture_output=True, text=True)
    return {alternative.split()[0] for item in result.stdout.split(",")
            for alternative in item.split("|") if alternative.strip()}


class Failure(Exception):
    pass


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    if not condition:
        raise Failure(message)


def run(command, **kwargs):
    """Runs a command; a failure raises with its output."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise Failure(f"{' '.join(command)} exited {result.returncode}:\n"
                      f"{result.stdout}{result.stderr}")
    return result.stdout


def missing(*tools):
    return [tool for tool in tools if not shutil.which(tool)]


def project_version(source):
    text = open(os.path.join(source, "CMakeLists.txt")).read()
    return re.search(r"project \(zinfer VERSION ([0-9.]+)", text).group(1)


class Install:
    """The build tree installed into folder/prefix, and what is checked on it."""

    def __init__(self, args, folder):
        self.args = args
        self.folder = folder
        self.prefix = os.path.join(folder, "prefix")
        self.version = project_version(args.source)
        major, minor, _ = self.version.split(".")
        self.soname = f"libzinfer.so.{major}.{minor}" if major == "0" else f"libzinfer.so.{major}"
        self.model = os.path.join(args.source, "tests", "models", "digits", "digits.onnx")
        digits = np.load(os.path.join(args.source, "tests", "models", "digits", "digits_x.npy"))
        #  16 images for local runs; a topology's shapes are fixed, 1 image
        self.input = os.path.join(folder, "x.npy")
        self.input1 = os.path.join(folder, "x1.npy")
        np.save(self.input, digits[:16])
        np.save(self.input1, digits[:1])
        self.want = {}              # zinfer run's answer on each input
        self.env = dict(os.environ, PKG_CONFIG_PATH=self.libdir("pkgconfig"))

    def libdir(self, *parts):
        found = [path for path in glob.glob(os.path.join(self.prefix, "lib*"))
                 if os.path.exists(os.path.join(path, "libzinfer.a"))]
        return os.path.join(found[0] if found else os.path.join(self.prefix, "lib"), *parts)

    def same_as_run(self, path, what, input=None):
        answer, want = np.load(path), self.want[input or self.input]
        check(answer.dtype == want.dtype and answer.shape == want.shape
              and answer.tobytes() == want.tobytes(),
              f"{what}: bit for bit zinfer run's answer {want.shape}")

    def files(self):
        run(["cmake", "--install", self.args.build, "--prefix", self.prefix])
        lib = self.libdir()
        for path in ["bin/zinfer", "include/zinfer.h", os.path.join(lib, "libzinfer.a"),
                     os.path.join(lib, "libzinfer.so"), os.path.join(lib, self.soname),
                     os.path.join(lib, "libzinfer.so." + self.version),
                     os.path.join(lib, "pkgconfig", "zinfer.pc"),
                     os.path.join(lib, "cmake", "zinfer", "zinferConfig.cmake"),
                     os.path.join(lib, "cmake", "zinfer", "zinferConfigVersion.cmake"),
                     "lib/python3/dist-packages/zinfer_client.py",
                     "lib/python3/dist-packages/zinfer/__init__.py"]:
            check(os.path.exists(os.path.join(self.prefix, path)), f"installed {path}")
        dynamic = run(["readelf", "-d", os.path.join(lib, "libzinfer.so")]) \
            if shutil.which("readelf") else ""
        if dynamic:
            check(f"[{self.soname}]" in dynamic, f"soname {self.soname}")
        version = run(["pkg-config", "--modversion", "zinfer"], env=self.env).strip()
        check(version == self.version, f"zinfer.pc says version {version}")
        header = open(os.path.join(self.prefix, "include", "zinfer.h")).read()
        macros = [re.search(rf"#define ZINFER_VERSION_{part} (\d+)", header).group(1)
                  for part in ("MAJOR", "MINOR", "PATCH")]
        check(".".join(macros) == self.version, f"zinfer.h says version {'.'.join(macros)}")
        pyproject = open(os.path.join(self.args.source, "pyproject.toml")).read()
        check(f'version = "{self.version}"' in pyproject, "pyproject.toml has that version")
        for input in (self.input, self.input1):
            out = os.path.join(self.folder, "want.npy")
            run([os.path.join(self.prefix, "bin", "zinfer"), "run", self.model,
                 "--input", input, "--output", out, "--threads", "1"])
            self.want[input] = np.load(out)

    def exports(self):
        header = open(os.path.join(self.args.source, "engine", "zinfer.h")).read()
        declared = set(PUBLIC.findall(header))
        # The version script is read from the header the same way: a
        # declaration on one line would be neither exported nor checked
        other = re.findall(r"^[a-z].*\b(zi_[a-z0-9_]+) \(", header, re.M)
        check(not other, f"zinfer.h declares every function with its name on a line "
              f"of its own ({other})")
        listed = run(["nm", "-D", "--defined-only", self.libdir("libzinfer.so")])
        exported = {line.split()[-1].split("@")[0] for line in listed.splitlines() if line}
        check(len(declared) > 40, f"zinfer.h declares {len(declared)} functions")
        check(exported == declared, f"libzinfer.so exports exactly those "
              f"(extra {sorted(exported - declared)[:5]}, missing {sorted(declared - exported)[:5]})")

    def compile(self, name, static=False):
        """A program of tests/install built with pkg-config's flags"""
        program = os.path.join(self.folder, name + ("_static" if static else ""))
        cflags = run(["pkg-config", "--cflags", "zinfer"], env=self.env).split()
        libs = run(["pkg-config", "--libs"] + (["--static"] if static else []) + ["zinfer"],
                   env=self.env).split()
        if static:
            # libzinfer.a beside libzinfer.so: ask for the archive, the
            # libraries it needs stay shared
            libs = [item if item != "-lzinfer" else "-l:libzinfer.a" for item in libs]
        else:
            libs.append("-Wl,-rpath," + self.libdir())
        run(["cc", "-std=c11", "-Wall", "-Werror", "-o", program,
             os.path.join(HERE, "install", name + ".c")] + cflags + libs)
        needed = run(["readelf", "-d", program]) if shutil.which("readelf") else None
        if needed is not None:
            check(("libzinfer" in needed) != static,
                  f"{os.path.basename(program)}: libzinfer linked "
                  f"{'statically' if static else 'as ' + self.soname}")
        return program

    def pkgconfig(self):
        for static in (False, True):
            program = self.compile("local", static)
            out = os.path.join(self.folder, "local.npy")
            run([program, self.model, self.input, out])
            self.same_as_run(out, os.path.basename(program))

    def cmake(self):
        project = os.path.join(self.folder, "user")
        os.makedirs(project)
        for name in ("CMakeLists.txt", "local.c"):
            shutil.copy(os.path.join(HERE, "install", name), project)
        build = os.path.join(project, "build")
        run(["cmake", "-S", project, "-B", build, "-DCMAKE_PREFIX_PATH=" + self.prefix])
        run(["cmake", "--build", build])
        for name in ("local_cmake", "local_cmake_static"):
            out = os.path.join(self.folder, name + ".npy")
            run([os.path.join(build, name), self.model, self.input, out])
            self.same_as_run(out, f"find_package (zinfer): {name}")

    def topology(self):
        path = os.path.join(self.folder, "digits.yaml")
        with open(path, "w") as handle:
            handle.write(f"name: install-{self.args.port_base}\n"
                         f"model: {self.model}\n"
                         f"base_port: {self.args.port_base}\n"
                         "transport: tcp\n"
                         "processes:\n  - name: front\n  - name: back\n"
                         "placement:\n"
                         "  - process: front\n    from: /conv1/Conv\n    to: /pool/MaxPool\n"
                         "  - process: back\n    from: /conv3/Conv\n")
        return Topology(os.path.join(self.prefix, "bin", "zinfer"), path, quiet=True)

    def remote(self, endpoint):
        program = self.compile("remote")
        out = os.path.join(self.folder, "remote.npy")
        run([program, endpoint, self.input1, out])
        self.same_as_run(out, f"remote through zi_client at {endpoint}", self.input1)

    def python(self, endpoint):
        """pip install of the tree's Python package into a venv"""
        source = os.path.join(self.folder, "pysrc")
        os.makedirs(os.path.join(source, "engine"))
        os.makedirs(os.path.join(source, "docs"))
        shutil.copy(os.path.join(self.args.source, "pyproject.toml"), source)
        shutil.copy(os.path.join(self.args.source, "docs", "install.md"),
                    os.path.join(source, "docs"))
        shutil.copytree(os.path.join(self.args.source, "engine", "client"),
                        os.path.join(source, "engine", "client"),
                        ignore=shutil.ignore_patterns("*.c", "*.h", "__pycache__", "*.egg-info"))
        venv = os.path.join(self.folder, "venv")
        # Without pip of its own: Debian's pip, seen through the system site
        # packages, installs into the venv (no PEP 668 refusal there)
        run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv])
        python = os.path.join(venv, "bin", "python")
        run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--quiet",
             source], cwd=self.folder)
        self.import_zinfer(python, endpoint, os.path.join(venv, "lib"), "pip install",
                           dict(os.environ, PYTHONPATH=""))

    def import_zinfer(self, python, endpoint, where, what, env):
        out = os.path.join(self.folder, "python.npy")
        script = ("import sys, numpy as np, zinfer\n"
                  "print(zinfer.__file__)\n"
                  "client = zinfer.Client(sys.argv[1])\n"
                  "(y,) = client.infer([np.load(sys.argv[2])])\n"
                  "np.save(sys.argv[3], y)\n"
                  "client.close()\n")
        # From the folder, where no zinfer source lies
        place = run([python, "-c", script, endpoint, self.input1, out], cwd=self.folder,
                    env=env).strip()
        check(place.startswith(where), f"{what}: import zinfer from {place}")
        self.same_as_run(out, f"{what}: zinfer.Client", self.input1)

    def depends_cover_libraries(self, root, depends):
        """Every library the packaged binary and libzinfer.so link directly
        (their DT_NEEDED entries, as the dynamic loader finds them here)
        belongs to a Debian package that Depends names, and every package
        Depends names is a real one, not a name only this build tree knows"""
        names = [alternative.split()[0] for item in depends.split(",")
                 for alternative in item.split("|")]
        for name in names:
            known = subprocess.run(["apt-cache", "show", "--no-all-versions", name],
                                   capture_output=True, text=True)
            installed = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name],
                                       capture_output=True, text=True)
            check((known.returncode == 0 and known.stdout.startswith("Package:"))
                  or (installed.returncode == 0 and installed.stdout.strip() != ""),
                  f"Depends: {name} is a Debian package")
        lib = os.path.join(root, "usr", "lib")
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        for binary in [os.path.join(root, "usr", "bin", "zinfer"),
                       os.path.join(lib, self.soname)]:
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]",
                                run(["readelf", "-d", binary]))
            listing = run(["ldd", binary], env=env)
            found = dict(re.findall(r"^\s*(\S+) => (\S+)", listing, re.M))
            # The loader itself is listed by its path alone
            found.update((os.path.basename(path), path)
                         for path in re.findall(r"^\s*(/\S+) \(", listing, re.M))
            check(len(needed) >= 10, f"{os.path.basename(binary)} links {len(needed)} "
                  f"libraries: {', '.join(needed)}")
            for soname in needed:
                path = found.get(soname, "not")
                if path.startswith(root):
                    continue        # the package's own libzinfer.so
                owners = dpkg_owners(path) if path != "not" else []
                # libopenblas.so.0 is an alternative that libopenblas0-pthread,
                # -openmp or -serial provide; Depends names libopenblas0, the
                # package that depends on one of them
                covered = [owner for owner in owners if owner in names
                           or set(names) & provided_by(owner)
                           or any(owner in dependencies_of(name) for name in names)]
                check(covered, f"{os.path.basename(binary)}: {soname} ({path}) is in "
                      f"{' or '.join(owners) or 'no package'}, which Depends names or "
                      "pulls in")

    def deb(self, endpoint):
        """cpack -G DEB, then the package's contents, Depends, and the
        package unpacked into a scratch root"""
        folder = os.path.join(self.folder, "deb")
        run(["cpack", "-G", "DEB", "--config", os.path.join(self.args.build, "CPackConfig.cmake"),
             "-B", folder])
        packages = glob.glob(os.path.join(folder, "*.deb"))
        check(len(packages) == 1, f"cpack made {[os.path.basename(p) for p in packages]}")
        package = packages[0]
        version = run(["dpkg-deb", "-f", package, "Version"]).strip()
        check(version == self.version, f"package version {version}")
        depends = run(["dpkg-deb", "-f", package, "Depends"]).strip()
        names = [alternative.split()[0] for item in depends.split(",")
                 for alternative in item.split("|")]
        print(f"     Depends: {depends}")
        for name in DEPENDS:
            check(any(found == name or found.startswith(name + "-") for found in names),
                  f"Depends names {name}")
        root = os.path.join(folder, "root")
        run(["dpkg", "-x", package, root])
        self.depends_cover_libraries(root, depends)
        shlibs = run(["dpkg-deb", "-I", package, "shlibs"]).strip()
        check(shlibs == f"libzinfer {self.soname[13:]} zinfer (>= {self.version})",
              f"shlibs for packages that link it: {shlibs}")
        contents = run(["dpkg-deb", "-c", package])
        for path in ["./usr/bin/zinfer", f"./usr/lib/{self.soname}", "./usr/lib/libzinfer.a",
                     "./usr/lib/libzinfer.so", "./usr/include/zinfer.h",
                     "./usr/lib/pkgconfig/zinfer.pc", "./usr/lib/cmake/zinfer/zinferConfig.cmake",
                     "./usr/lib/cmake/zinfer/zinferTargets.cmake",
                     "./usr/lib/python3/dist-packages/zinfer_client.py",
                     "./usr/lib/python3/dist-packages/zinfer/__init__.py"]:
            check(re.search(rf" {re.escape(path)}( |$)", contents, re.M) is not None,
                  f"package holds {path[1:]}")
        pc = open(os.path.join(root, "usr", "lib", "pkgconfig", "zinfer.pc")).read()
        check("prefix=/usr\n" in pc, "its zinfer.pc has prefix=/usr")
        out = os.path.join(self.folder, "deb.npy")
        run([os.path.join(root, "usr", "bin", "zinfer"), "run", self.model, "--input", self.input,
             "--output", out, "--threads", "1"])
        self.same_as_run(out, "unpacked with dpkg -x: zinfer run")
        where = os.path.join(root, "usr", "lib", "python3", "dist-packages")
        self.import_zinfer(sys.executable, endpoint, where, "unpacked with dpkg -x",
                           dict(os.environ, PYTHONPATH=where))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="the build tree to install")
    parser.add_argument("--source", required=True, help="the source tree")
    parser.add_argument("--port-base", type=int, default=28200)
    parser.add_argument("--sanitized", action="store_true",
                        help="the build tree uses a sanitizer: skip")
    args = parser.parse_args()
    args.build, args.source = os.path.abspath(args.build), os.path.abspath(args.source)

    if args.sanitized:
        print("SKIP: a sanitizer build's libraries need the sanitizer runtime linked "
              "first, which a user's program does not do; the plain build checks them")
        return SKIP

    lacking = missing("cmake", "cc", "pkg-config", "nm", "readelf")
    if lacking:
        print(f"SKIP: install test needs {', '.join(lacking)} (scripts/install-deps.sh)")
        return SKIP
    skipped = []
    with tempfile.TemporaryDirectory(prefix="zinfer-install-") as folder:
        try:
            install = Install(args, folder)
            install.files()
            install.exports()
            install.pkgconfig()
            install.cmake()
            with install.topology() as topology:
                install.remote(topology.endpoint)
                if subprocess.run([sys.executable, "-m", "pip", "--version"],
                                  capture_output=True).returncode == 0:
                    install.python(topology.endpoint)
                else:
                    skipped.append("python: no pip for this python (python3-pip)")
                lacking = missing("cpack", "dpkg-deb", "dpkg-shlibdeps")
                if lacking:
                    skipped.append(f"deb: no {', '.join(lacking)} (dpkg-dev)")
                else:
                    install.deb(topology.endpoint)
                code = topology.stop()
                check(code == 0, f"zinfer up stopped cleanly (exit {code})")
        except Failure as failure:
            print(f"FAIL {failure}")
            return 1
    for reason in skipped:
        print(f"SKIP {reason}")
    print("install: all checked" + (f", {len(skipped)} part(s) skipped" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
