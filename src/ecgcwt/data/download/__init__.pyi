"""Type stub of the lazy public face ``ecgcwt.data.download`` (``__init__.py``): each name from its module."""

from ecgcwt.data.download.http import ENV_INDEX_URL as ENV_INDEX_URL
from ecgcwt.data.download.manifest import MANIFEST_NAME as MANIFEST_NAME
from ecgcwt.data.download.physionet import VERIFY_MODES as VERIFY_MODES
from ecgcwt.data.download.physionet import DownloadSummary as DownloadSummary
from ecgcwt.data.download.physionet import download_database as download_database
from ecgcwt.data.download.physionet import partial_download_path as partial_download_path

__all__ = [
    "DownloadSummary",
    "ENV_INDEX_URL",
    "MANIFEST_NAME",
    "VERIFY_MODES",
    "download_database",
    "partial_download_path",
]
