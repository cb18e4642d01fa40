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
    python_requires=">=3.11",
    install_requires=[
        "twisted>=24.3",
        "treq",
        "pyOpenSSL",
        "service-identity",
        "txpostgres",
        "psycopg2-binary",
        "klein",
        "bcrypt",
        "httptools",
        "PyYAML",
        "PyJWT",
        "cryptography",
        "txredisapi",
        "ldaptor",
        "prometheus-client",
        "google-re2",
    ],
    extras_require={"test": ["pytest", "pytest-twisted", "oauthlib"]},
    entry_points={"console_scripts": ["kongtx = kongtx.cli:main"]},
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3.11",
        "Topic :: Internet :: Proxy Servers",
    ],
)
