from setuptools import find_packages, setup

setup(
    name="kongtx",
    version="0.1.0",
    packages=find_packages(include=["kongtx", "kongtx.*"]) + ["twisted.plugins"],
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
    ],
    extras_require={"test": ["pytest", "pytest-twisted"]},
)
