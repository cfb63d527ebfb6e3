"""ecgcwt: ECG rhythm classification from continuous-wavelet-transform scalograms.

The package holds every piece of logic of the workflow (reading and downloading
WFDB records, segmentation, folds, the CWT engine, the HDF5 caches, training and
evaluation) so that it is importable and testable without Snakemake; the
Snakemake scripts in ``workflow/scripts`` are thin adapters around it.
"""

__version__ = "0.1.0"
