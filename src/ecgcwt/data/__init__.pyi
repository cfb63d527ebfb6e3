"""Type stub of the lazy public face ``ecgcwt.data`` (``__init__.py``): each name from its module."""

from ecgcwt.data.chunked import CHUNK_WINDOWS as CHUNK_WINDOWS
from ecgcwt.data.chunked import LeadSummary as LeadSummary
from ecgcwt.data.chunked import RecordWindows as RecordWindows
from ecgcwt.data.download import ENV_INDEX_URL as ENV_INDEX_URL
from ecgcwt.data.download import MANIFEST_NAME as MANIFEST_NAME
from ecgcwt.data.download import VERIFY_MODES as VERIFY_MODES
from ecgcwt.data.download import DownloadSummary as DownloadSummary
from ecgcwt.data.download import download_database as download_database
from ecgcwt.data.download import partial_download_path as partial_download_path
from ecgcwt.data.folds import FOLD_COLUMNS as FOLD_COLUMNS
from ecgcwt.data.folds import LOSO as LOSO
from ecgcwt.data.folds import assign_folds as assign_folds
from ecgcwt.data.folds import few_subjects_note as few_subjects_note
from ecgcwt.data.folds import fold_plan as fold_plan
from ecgcwt.data.folds import loso_folds as loso_folds
from ecgcwt.data.folds import read_folds as read_folds
from ecgcwt.data.folds import subject_table as subject_table
from ecgcwt.data.mathworks import MATHWORKS_FS as MATHWORKS_FS
from ecgcwt.data.mathworks import MATHWORKS_RECORDS as MATHWORKS_RECORDS
from ecgcwt.data.mathworks import read_ecgdata as read_ecgdata
from ecgcwt.data.mathworks import row_records as row_records
from ecgcwt.data.mathworks import write_mathworks_database as write_mathworks_database
from ecgcwt.data.records import DATA_SOURCES as DATA_SOURCES
from ecgcwt.data.records import ECG_FS_RANGE as ECG_FS_RANGE
from ecgcwt.data.records import OpenRecord as OpenRecord
from ecgcwt.data.records import Record as Record
from ecgcwt.data.records import UnusableRecord as UnusableRecord
from ecgcwt.data.records import check_config_record_names as check_config_record_names
from ecgcwt.data.records import check_record_name as check_record_name
from ecgcwt.data.records import check_record_names as check_record_names
from ecgcwt.data.records import check_subject_map as check_subject_map
from ecgcwt.data.records import fix_advice as fix_advice
from ecgcwt.data.records import link_target as link_target
from ecgcwt.data.records import open_record as open_record
from ecgcwt.data.records import read_record as read_record
from ecgcwt.data.records import read_record_list as read_record_list
from ecgcwt.data.records import record_files as record_files
from ecgcwt.data.records import sampling_rate_problem as sampling_rate_problem
from ecgcwt.data.segment_store import SEGMENTS_REBUILD as SEGMENTS_REBUILD
from ecgcwt.data.segment_store import STR_DTYPE as STR_DTYPE
from ecgcwt.data.segment_store import SegmentStoreInfo as SegmentStoreInfo
from ecgcwt.data.segment_store import SegmentStoreWriter as SegmentStoreWriter
from ecgcwt.data.segment_store import decode_str as decode_str
from ecgcwt.data.segment_store import iter_signal_batches as iter_signal_batches
from ecgcwt.data.segment_store import read_info as read_info
from ecgcwt.data.segment_store import read_source_facts as read_source_facts
from ecgcwt.data.segment_store import read_table as read_table
from ecgcwt.data.segment_store import table_from_group as table_from_group
from ecgcwt.data.segment_store import write_segment_store as write_segment_store
from ecgcwt.data.segment_store import write_table_group as write_table_group
from ecgcwt.data.segmentation import DROP_REASONS as DROP_REASONS
from ecgcwt.data.segmentation import DatabaseSource as DatabaseSource
from ecgcwt.data.segmentation import cut_lead as cut_lead
from ecgcwt.data.segmentation import evenly_spaced as evenly_spaced
from ecgcwt.data.segmentation import resample as resample
from ecgcwt.data.segmentation import segment_databases as segment_databases
from ecgcwt.data.segmentation import segment_to_store as segment_to_store
from ecgcwt.data.segmentation import skipped_records as skipped_records
from ecgcwt.data.segmentation import window_starts as window_starts
from ecgcwt.data.segmentation import write_segments as write_segments
from ecgcwt.data.settings import SEGMENT_ATTRS as SEGMENT_ATTRS
from ecgcwt.data.settings import QualityLimits as QualityLimits
from ecgcwt.data.settings import SegmentSpec as SegmentSpec
from ecgcwt.data.settings import preprocessing_from_attrs as preprocessing_from_attrs
from ecgcwt.data.settings import synthetic_record_names as synthetic_record_names
from ecgcwt.data.synthetic import NATIVE_FS as NATIVE_FS
from ecgcwt.data.synthetic import PROFILES as PROFILES
from ecgcwt.data.synthetic import generate_database as generate_database

__all__ = [
    "CHUNK_WINDOWS",
    "DATA_SOURCES",
    "DROP_REASONS",
    "DatabaseSource",
    "DownloadSummary",
    "ECG_FS_RANGE",
    "ENV_INDEX_URL",
    "FOLD_COLUMNS",
    "LOSO",
    "LeadSummary",
    "MANIFEST_NAME",
    "MATHWORKS_FS",
    "MATHWORKS_RECORDS",
    "NATIVE_FS",
    "OpenRecord",
    "PROFILES",
    "QualityLimits",
    "Record",
    "RecordWindows",
    "SEGMENTS_REBUILD",
    "SEGMENT_ATTRS",
    "STR_DTYPE",
    "SegmentSpec",
    "SegmentStoreInfo",
    "SegmentStoreWriter",
    "UnusableRecord",
    "VERIFY_MODES",
    "assign_folds",
    "check_config_record_names",
    "check_record_name",
    "check_record_names",
    "check_subject_map",
    "cut_lead",
    "decode_str",
    "download_database",
    "evenly_spaced",
    "few_subjects_note",
    "fix_advice",
    "fold_plan",
    "generate_database",
    "iter_signal_batches",
    "link_target",
    "loso_folds",
    "open_record",
    "partial_download_path",
    "preprocessing_from_attrs",
    "read_ecgdata",
    "read_folds",
    "read_info",
    "read_record",
    "read_record_list",
    "read_source_facts",
    "read_table",
    "record_files",
    "resample",
    "row_records",
    "sampling_rate_problem",
    "segment_databases",
    "segment_to_store",
    "skipped_records",
    "subject_table",
    "synthetic_record_names",
    "table_from_group",
    "window_starts",
    "write_mathworks_database",
    "write_segment_store",
    "write_segments",
    "write_table_group",
]
