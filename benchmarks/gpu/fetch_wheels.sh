#!/bin/bash
# Wheels a GPU machine with a ready PyTorch image lacks to run ecgcwt (seen on the lent H100/H200
# machines: Python 3.12 with torch, torchvision, numpy, scipy, pandas, h5py, scikit-learn and
# matplotlib, but no snakemake, wfdb, jsonschema or PyWavelets, and no internet). About 30 MB.
# Usage (here, with internet): bash benchmarks/gpu/fetch_wheels.sh .whl
set -eu
dest=${1:?usage: fetch_wheels.sh DEST}; mkdir -p "$dest"
plat="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
for p in annotated-types==0.8.0 argparse-dataclass==2.0.0 cffi==2.1.1 conda-inject==1.3.2 ConfigArgParse==1.9.0 \
  docutils==0.22.4 dpath==2.2.0 fastjsonschema==2.22.3 gitdb==4.0.12 GitPython==3.2.1 greenlet==3.5.6 humanfriendly==10.0 \
  immutables==0.21 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 jupyter_core==5.9.1 nbformat==5.11.1 \
  platformdirs==4.14.8 PuLP==3.3.2 pycparser==3.12 pydantic==2.14.4 pydantic_core==2.50.5 referencing==0.37.0 \
  rpds-py==2026.9.1 smart_open==7.7.1 smmap==5.0.3 snakemake==9.27.1 snakemake-interface-common==1.23.0 \
  snakemake-interface-executor-plugins==9.4.0 snakemake-interface-logger-plugins==2.1.0 \
  snakemake-interface-report-plugins==1.3.0 snakemake-interface-scheduler-plugins==2.0.2 \
  snakemake-interface-storage-plugins==4.4.1 soundfile==0.14.0 SQLAlchemy==2.0.58 sqlmodel==0.0.37 tenacity==9.2.1 \
  throttler==1.2.3 traitlets==5.16.1 typing-inspection==0.4.5 tzdata==2026.6 wfdb==4.3.1 yte==1.9.4 PyWavelets==1.9.0 psutil==7.2.2; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $plat -d "$dest" "$p"
done
python3 -m pip wheel -q --no-deps -w "$dest" connection_pool==0.0.3   # published as a source archive only
du -sh "$dest"
