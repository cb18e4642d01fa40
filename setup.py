"""Packaging for kongtx. ``twisted.plugins`` carries the twistd dropin (no __init__.py)."""

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as fh:
    long_description = fh.read()

setup(
    name="kongtx",
    version="0.1.0",
    description="A Kong-compatible API gateway on Twisted",
    long_description=long_description,
    long_description_content_type="text/markdown",
    # package_dir {"": "."} makes ``pip install -e`` add the checkout to sys.path
    # (a static .pth) instead of an import hook, so Twisted's plugin scan finds
    # twisted/plugins/kongtx_plugin.py and ``twistd kongtx`` works anywhere.
    package_dir={"": "."},
    packages=find_packages(include=["kongtx", "kongtx.*"]) + ["twisted.plugins"],
    package_data={"twisted.plugins": ["kongtx_plugin.py"]},
    data_files=[("share/kongtx", ["etc/kongtx.conf"])],
    # CPython 3.11+ and PyPy 3.9+ (docs/pypy.md); run-time code stays 3.9-compatible.
    python_requires=">=3.9",
    install_requires=[
        "twisted>=24.3",
        "treq",
        "pyOpenSSL",
        "service-identity",
        "txpostgres",
        # PostgreSQL driver: psycopg2 on CPython; psycopg2cffi (same API, registered as
        # ``psycopg2`` by kongtx.store.pgdriver) on PyPy, which psycopg2-binary has no build for.
        "psycopg2-binary; platform_python_implementation != 'PyPy'",
        "psycopg2cffi; platform_python_implementation == 'PyPy'",
        "klein",
        # On PyPy: the last releases with PyPy 3.9 wheels (later ones build Rust from
        # source). One requirement per runtime: pip does not merge a name listed twice.
        "bcrypt; platform_python_implementation != 'PyPy'",
        "bcrypt<4.2.1; platform_python_implementation == 'PyPy'",
        "httptools",
        "PyYAML",
        "PyJWT",
        "cryptography; platform_python_implementation != 'PyPy'",
        "cryptography<44; platform_python_implementation == 'PyPy'",
        "txredisapi",
        "ldaptor",
        "prometheus-client",
        "google-re2; platform_python_implementation != 'PyPy'",
        # No PyPy wheel: built from source against Debian's libre2 (docs/pypy.md).
        "google-re2==1.0; platform_python_implementation == 'PyPy'",
    ],
    extras_require={"test": ["pytest", "pytest-twisted", "oauthlib", "hypothesis"]},
    entry_points={"console_scripts": ["kongtx = kongtx.cli:main"]},
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: Implementation :: CPython",
        "Programming Language :: Python :: Implementation :: PyPy",
        "Topic :: Internet :: Proxy Servers",
    ],
)
