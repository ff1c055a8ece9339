"""wire-ingest: a streaming ingestion pipeline for news wire stories."""

from setuptools import find_packages, setup

setup(
    name="wire-ingest",
    version="0.1.0",
    description="Turn agency wire copy from Kafka or drop folders into clean, deduplicated, "
                "enriched Avro records with Apache Beam.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["pipelines", "pipelines.*", "transforms", "transforms.*",
                                    "schemas", "schemas.*"]),
    package_data={
        "schemas": ["*.avsc", "history/*.avsc"],
        "transforms.normalize": ["*.tsv", "*.json"],
    },
    include_package_data=True,
    install_requires=[
        # The versions the test suite runs against.
        "apache-beam==2.77.*",
        # 2.3, not 3.0: under load, 3.0's IO thread left consumer calls
        # (poll, topics) waiting forever in its net.run(), and with them the
        # pipeline's reader bundles on Prism (tests/test_faults_kafka.py).
        "kafka-python>=2.3.3,<2.4",
        "avro>=1.12,<1.13",
        "fastavro>=1.9,<2",
        "langdetect==1.0.9",
        # Word-frequency lists for close relatives (transforms/language_words.py);
        # code Apache-2.0, data CC BY-SA 4.0. Its lists move detection figures.
        "wordfreq>=3.1.1,<3.2",
        "datasketch>=1.6,<3",
        "defusedxml>=0.7,<0.8",
        "numpy>=1.24",
        # The progress bar of bounded runs on a terminal (pipelines/logs.py).
        "tqdm>=4.66,<5",
        # Live metrics (--metrics-port, transforms/telemetry.py).
        "prometheus_client>=0.20,<1",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "hypothesis>=6.100,<7",
            # The tests start Apache Kafka itself (deploy/local/kafka.sh: Java 17+, Maven).
        ],
    },
    entry_points={"console_scripts": ["wire-ingest=pipelines.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: Text Processing :: Markup :: XML",
        "License :: OSI Approved :: Apache Software License",
    ],
)
